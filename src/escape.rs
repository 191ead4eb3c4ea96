//! Attacker-chosen text (a username typed at the sign-in form, a user
//! agent, a client_id) made safe for a line-oriented log or a terminal:
//! control characters, and the Unicode controls that reorder how a line
//! reads, are written as escapes. A newline cannot start a forged log line
//! or table row, and an escape sequence cannot drive the terminal.

use std::fmt;

/// Displays the text with control characters escaped (`\n`, `\u{1b}`…).
pub struct Escaped<'a>(pub &'a str);

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(needs_escape) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// A `fmt::Write` that escapes everything written through it, so a value
/// can be formatted straight into a log line without a copy.
pub struct EscapingWriter<'a, W: fmt::Write>(pub &'a mut W);

impl<W: fmt::Write> fmt::Write for EscapingWriter<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        write!(self.0, "{}", Escaped(text))
    }
}

/// `Escaped` as an owned string.
pub fn escaped(text: &str) -> String {
    Escaped(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn control_and_reordering_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("alice"), "alice");
        assert_eq!(escaped("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escaped("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escaped("x\u{7f}\u{85}"), "x\\u{7f}\\u{85}");
        assert_eq!(escaped("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escaped("élodie ✓"), "élodie ✓");
    }

    #[test]
    fn the_writer_escapes_what_is_formatted_through_it() {
        use std::fmt::Write;
        let mut out = String::new();
        let (plain, debugged) = ("a\nb", "c\u{1b}");
        write!(super::EscapingWriter(&mut out), "{plain}|{debugged:?}").unwrap();
        assert_eq!(out, "a\\nb|\"c\\u{1b}\"");
    }
}
