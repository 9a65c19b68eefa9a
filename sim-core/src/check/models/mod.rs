//! The history models, each a plug-in implementing the checker's `HistoryModel` contract
//! (`model.rs`). A new model is one file here and one line in `Model::plugin` (`check/mod.rs`).

pub(crate) mod counter;
pub(crate) mod kv_append;
pub(crate) mod lease_lock;
pub(crate) mod mutex;
pub(crate) mod register;

use super::model::{Ending, PreparedOp};

/// Drops the indeterminate operations of one object that are invoked after the return of
/// every completed operation for which `can_observe` holds.
///
/// Why this is sound, given the caller's argument that only such operations can tell whether
/// another one happened: in any linearization, a dropped operation `d` goes after every
/// observer (an observer's point precedes its return, which precedes `d`'s invocation, which
/// precedes `d`'s point). So only non-observers follow `d`; the caller shows these stay legal,
/// with the same effect on what any later observer could see, when `d` is deleted; and `d`,
/// indeterminate, may never have happened.
pub(crate) fn drop_unseen(ops: &mut [&mut PreparedOp], can_observe: impl Fn(&PreparedOp) -> bool) {
    let last_observer_return = ops
        .iter()
        .filter(|op| op.ending == Ending::Completed && can_observe(op))
        .map(|op| op.complete.unwrap_or(usize::MAX))
        .max();
    for op in ops.iter_mut() {
        if op.ending == Ending::Indeterminate
            && last_observer_return.is_none_or(|last| op.invoke > last)
        {
            op.maybe = None;
        }
    }
}
