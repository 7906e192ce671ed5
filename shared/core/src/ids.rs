//! Unique tokens for names that must never collide between runs (compactor run tokens, manifest
//! ids): a SHA-256 of the process id, the time in nanoseconds, a per-process counter and the
//! caller's context, as hex.

use sha2::Digest;

/// `bytes` bytes (at most 32) of a hash that differs for every call, as `2 * bytes` hex digits.
pub fn unique_hex(context: &[&[u8]], bytes: usize) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = sha2::Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes(),
    );
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    for part in context {
        h.update(part);
    }
    h.finalize()[..bytes.min(32)]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ_and_have_the_asked_width() {
        let a = super::unique_hex(&[b"x"], 4);
        let b = super::unique_hex(&[b"x"], 4);
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
    }
}
