//! The fault switch shared by the in-memory ports: counts every call per operation and fails
//! the calls a test armed, so a test injects a fault without editing the code under test.
//!
//! Invariants:
//! - Calls are counted per operation from the fake's creation, failed calls included.
//! - A one-shot fault ([`Faults::fail_nth`]) fires exactly once, on the call it names; a
//!   standing fault ([`Faults::fail_every`]) fires on every call until [`Faults::heal`].

use std::collections::HashMap;
use std::hash::Hash;

use crate::error::AwsError;

/// Per-operation call counters and the faults armed on them.
#[derive(Debug)]
pub struct Faults<O, E> {
    calls: HashMap<O, u64>,
    once: Vec<(O, u64, E)>,
    every: HashMap<O, AwsError>,
}

impl<O, E> Default for Faults<O, E> {
    fn default() -> Self {
        Self {
            calls: HashMap::new(),
            once: Vec::new(),
            every: HashMap::new(),
        }
    }
}

impl<O: Copy + Eq + Hash, E: From<AwsError>> Faults<O, E> {
    /// Counts one call of `op`; the error it must fail with, if a fault is armed on it.
    pub fn record(&mut self, op: O) -> Result<(), E> {
        let n = self.calls.entry(op).or_insert(0);
        *n += 1;
        let n = *n;
        if let Some(i) = self.once.iter().position(|(o, at, _)| *o == op && *at == n) {
            return Err(self.once.swap_remove(i).2);
        }
        match self.every.get(&op) {
            Some(e) => Err(E::from(e.clone())),
            None => Ok(()),
        }
    }

    /// Fails the `nth` call of `op` from now (1 = the next one) with `error`.
    pub fn fail_nth(&mut self, op: O, nth: u64, error: E) {
        let at = self.calls(op) + nth.max(1);
        self.once.push((op, at, error));
    }

    /// Fails every call of `op` with `error` until [`Self::heal`].
    pub fn fail_every(&mut self, op: O, error: AwsError) {
        self.every.insert(op, error);
    }

    /// Disarms every fault on `op` (one-shot and standing).
    pub fn heal(&mut self, op: O) {
        self.every.remove(&op);
        self.once.retain(|(o, _, _)| *o != op);
    }

    /// How many calls of `op` were made (failed ones included).
    pub fn calls(&self, op: O) -> u64 {
        self.calls.get(&op).copied().unwrap_or(0)
    }

    /// Calls of every operation.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    enum Op {
        A,
        B,
    }

    #[derive(Debug)]
    struct E(String);

    impl From<AwsError> for E {
        fn from(e: AwsError) -> Self {
            E(e.message)
        }
    }

    fn err(m: &str) -> AwsError {
        crate::testing::aws_error("test:Op", "InternalError", 500, m)
    }

    #[test]
    fn one_shot_faults_fire_once_on_the_named_call() {
        let mut f: Faults<Op, E> = Faults::default();
        f.record(Op::A).unwrap();
        f.fail_nth(Op::A, 2, E("second from now".into()));
        f.record(Op::A).unwrap();
        f.record(Op::B).unwrap();
        assert_eq!(f.record(Op::A).unwrap_err().0, "second from now");
        f.record(Op::A).unwrap();
        assert_eq!((f.calls(Op::A), f.calls(Op::B), f.total()), (4, 1, 5));
    }

    #[test]
    fn standing_faults_fire_until_healed() {
        let mut f: Faults<Op, E> = Faults::default();
        f.fail_every(Op::B, err("down"));
        f.fail_nth(Op::B, 3, E("never".into()));
        assert!(f.record(Op::A).is_ok());
        assert_eq!(f.record(Op::B).unwrap_err().0, "InternalError: down");
        assert_eq!(f.record(Op::B).unwrap_err().0, "InternalError: down");
        f.heal(Op::B);
        assert!(
            f.record(Op::B).is_ok(),
            "healing disarms one-shot faults too"
        );
    }
}
