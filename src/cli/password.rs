//! Passwords at the command line: asked for on a terminal (without echo),
//! or read from a pipe; checked against the policy; hashed. And `hash-pw`.

use crate::config::Config;
use std::io::{IsTerminal, Read};

pub(super) fn hash_pw(cost: u32) -> Result<(), String> {
    let password = read_password("Password: ")?;
    println!("{}", crate::crypto::password::hash(&password, cost).map_err(|e| e.to_string())?);
    Ok(())
}

fn read_password(prompt: &str) -> Result<String, String> {
    let password = match std::io::stdin().is_terminal() {
        true => rpassword::prompt_password(prompt).map_err(|e| e.to_string())?,
        false => piped_password()?.ok_or("no password was given on standard input")?,
    };
    checked(password, std::io::stdin().is_terminal())
}

/// The first line of a piped standard input, if it holds one.
fn piped_password() -> Result<Option<String>, String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text.lines().next().filter(|l| !l.is_empty()).map(str::to_owned))
}

fn checked(password: String, typed: bool) -> Result<String, String> {
    match crate::crypto::password::check_policy(&password) {
        Ok(()) => Ok(password),
        Err(e) if typed => Err(e.to_string()),
        Err(e) => Err(format!("the password given on standard input is refused: {e}")),
    }
}

/// A new user's password (`prompt` empty: generated and shown once,
/// unless one is piped in) or a new one for `user passwd` (asked for).
pub(super) fn hashed_password(config: &Config, prompt: &str) -> Result<(String, Option<String>), String> {
    let interactive = std::io::stdin().is_terminal();
    let generate = || crate::crypto::password::generate().map_err(|e| e.to_string());
    let (password, shown) = match (prompt.is_empty(), interactive) {
        (true, true) => {
            let generated = generate()?;
            (generated.clone(), Some(generated))
        }
        // A script or a pipe: the first line of standard input, or, with
        // nothing there, a generated password shown once as on a terminal.
        (true, false) => match piped_password()? {
            Some(given) => (checked(given, false)?, None),
            None => {
                let generated = generate()?;
                (generated.clone(), Some(generated))
            }
        },
        (false, _) => (read_password(prompt)?, None),
    };
    let hash = crate::crypto::password::hash(&password, config.password_hash_cost).map_err(|e| e.to_string())?;
    Ok((hash, shown))
}
