//! TOTP (RFC 6238) with the parameters every authenticator app takes:
//! HMAC-SHA-1, 6 digits, 30-second steps, a 160-bit seed shown as base32.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 4226 §4 recommends a 160-bit shared secret.
pub const SEED_BYTES: usize = 20;

/// The step (time counter, RFC 6238 §4) that `unix` falls in.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECONDS)
}

/// The code for `step` (RFC 4226 §5.3: HMAC, dynamic truncation, 10^6).
pub fn code_at(seed: &[u8], step: i64) -> Result<u32, openssl::error::ErrorStack> {
    let key = PKey::hmac(seed)?;
    let mut signer = Signer::new(MessageDigest::sha1(), &key)?;
    signer.update(&(step as u64).to_be_bytes())?;
    let mac = signer.sign_to_vec()?;
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    Ok(binary % 10u32.pow(DIGITS))
}

/// The step whose code `code` is, within one step either side of `now`'s
/// (clock drift, a code typed as it changed), and only if it is later than
/// `last_used`: a code is good once (RFC 6238 §5.2). Compared in constant
/// time. None if it matches no such step.
pub fn accepted_step(seed: &[u8], code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in current - 1..=current + 1 {
        let Ok(expected) = code_at(seed, step) else { return None };
        let expected = format!("{expected:0width$}", width = DIGITS as usize);
        // Every candidate is compared, whatever matched before.
        if super::secrets::constant_time_eq(expected.as_bytes(), code.as_bytes())
            && last_used.is_none_or(|used| step > used)
        {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32, upper case, no padding: how apps take a typed seed.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI an app scans (Key Uri Format, as Google
/// Authenticator, Aegis and 1Password read it).
pub fn otpauth_uri(issuer: &str, account: &str, seed: &[u8]) -> String {
    let label: String = url::form_urlencoded::byte_serialize(format!("{issuer}:{account}").as_bytes()).collect();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("secret", &base32(seed))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP_SECONDS.to_string());
    format!("otpauth://totp/{}?{}", label.replace('+', "%20"), query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (the 8-digit codes' last 6 digits).
    #[test]
    fn the_rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(code_at(seed, step_of(time)).unwrap(), code, "T = {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_only_once() {
        let seed = b"12345678901234567890";
        let now = 1_111_111_109;
        let code = |step: i64| format!("{:06}", code_at(seed, step).unwrap());
        let step = step_of(now);
        assert_eq!(accepted_step(seed, &code(step), now, None), Some(step));
        assert_eq!(accepted_step(seed, &code(step - 1), now, None), Some(step - 1));
        assert_eq!(accepted_step(seed, &code(step + 1), now, None), Some(step + 1));
        assert_eq!(accepted_step(seed, &code(step - 2), now, None), None, "expired");
        assert_eq!(accepted_step(seed, &code(step), now, Some(step)), None, "used");
        assert_eq!(accepted_step(seed, &code(step + 1), now, Some(step)), Some(step + 1));
        assert_eq!(accepted_step(seed, "12345", now, None), None);
        assert_eq!(accepted_step(seed, "abcdef", now, None), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0u8; 20]).len(), 32);
    }
}
