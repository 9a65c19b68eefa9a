//! What Redlock's nodes send each other, their timers and their disk records, in Redis's
//! words.

use crate::apps::Command;
use sim_core::id::{ProcessId, RequestId};
use sim_core::time::{Duration, Instant};
use std::fmt;

/// A message between a proxy (the instance a client reached), the instances and the storage
/// service. Every message names the client request it serves.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// Proxy → storage: draw the next fencing token of `lock` (a durable `INCR`).
    NextToken {
        /// The client request.
        request: RequestId,
        /// The lock.
        lock: u32,
    },
    /// Storage → proxy: the token, durable before it left.
    Token {
        /// The client request.
        request: RequestId,
        /// The token drawn.
        token: u64,
    },
    /// Proxy → storage: the last token drawn for `lock` (a release's final check).
    LastToken {
        /// The client request.
        request: RequestId,
        /// The lock.
        lock: u32,
    },
    /// Storage → proxy: the answer to [`Message::LastToken`].
    LastTokenIs {
        /// The client request.
        request: RequestId,
        /// The last token drawn (0: none).
        token: u64,
    },
    /// Proxy → instance: `SET lock (owner, token) NX PX ttl`; with `renew`, an unexpired key
    /// whose value is `(owner, renew)` keeps its value and gets the new TTL (the reference
    /// clients' extend script, which extends only a key still holding the caller's value).
    Set {
        /// The client request.
        request: RequestId,
        /// The lock (the key).
        lock: u32,
        /// The acquiring process.
        owner: ProcessId,
        /// The value's token.
        token: u64,
        /// The key's time to live.
        ttl: Duration,
        /// A renewal: the token of the lease the owner holds and extends.
        renew: Option<u64>,
    },
    /// Instance → proxy: the token of the owner's key now there, or `None` when another
    /// owner's unexpired key is there (or the instance is in its delayed restart).
    SetReply {
        /// The client request.
        request: RequestId,
        /// The value's token after the `SET` (the request's, or an extended key's own).
        token: Option<u64>,
    },
    /// Proxy → instance: delete `lock` if its value is still `(owner, token)`.
    Del {
        /// The client request.
        request: RequestId,
        /// The lock.
        lock: u32,
        /// The releasing process.
        owner: ProcessId,
        /// Its token.
        token: u64,
    },
    /// Instance → proxy: whether the key was deleted.
    DelReply {
        /// The client request.
        request: RequestId,
        /// `true`: it held that value and is gone.
        deleted: bool,
    },
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::NextToken { request, lock } => {
                write!(f, "INCR token:k{lock} (#{})", request.0)
            }
            Message::Token { request, token } => write!(f, "token {token} (#{})", request.0),
            Message::LastToken { request, lock } => write!(f, "GET token:k{lock} (#{})", request.0),
            Message::LastTokenIs { request, token } => {
                write!(f, "last token {token} (#{})", request.0)
            }
            Message::Set {
                request,
                lock,
                owner,
                token,
                ttl,
                renew,
            } => {
                write!(f, "SET k{lock} {owner}:{token} NX PX {}", ttl.as_millis())?;
                if let Some(renew) = renew {
                    write!(f, " (or extend {owner}:{renew})")?;
                }
                write!(f, " (#{})", request.0)
            }
            Message::SetReply { request, token } => match token {
                Some(token) => write!(f, "OK {token} (#{})", request.0),
                None => write!(f, "nil (#{})", request.0),
            },
            Message::Del {
                request,
                lock,
                owner,
                token,
            } => write!(f, "DEL k{lock} if {owner}:{token} (#{})", request.0),
            Message::DelReply { request, deleted } => {
                write!(f, "deleted {} (#{})", u8::from(*deleted), request.0)
            }
        }
    }
}

/// A proxy's timer: the round of `request` has waited `instance_timeout`.
#[derive(Clone, PartialEq, Eq)]
pub struct Timer {
    /// The client request.
    pub request: RequestId,
    /// Which round of it (a late timer of an earlier round is ignored).
    pub round: u32,
}

impl fmt::Debug for Message {
    /// The trace's words: `SET k0 p4:7 NX PX 300 (#12)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Timer {
    /// The trace's words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instance timeout (#{}, round {})",
            self.request.0, self.round
        )
    }
}

/// A disk record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// An instance started (kept even without persistence: the operator knows the instance
    /// restarted, which is what a delayed restart needs).
    Boot,
    /// Instance, with persistence: a key was set, expiring at `expires_at` on the wall clock
    /// (Redis's AOF writes `PEXPIREAT`, an absolute time).
    Set {
        /// The lock.
        lock: u32,
        /// The owner.
        owner: ProcessId,
        /// The value's token.
        token: u64,
        /// Absolute expiry on the instance's wall clock.
        expires_at: Instant,
    },
    /// Instance, with persistence: a key was deleted.
    Del {
        /// The lock.
        lock: u32,
    },
    /// Storage: a token was drawn.
    Token {
        /// The lock.
        lock: u32,
        /// The token.
        token: u64,
    },
    /// Storage: a command was applied to the application.
    Applied(Command),
}
