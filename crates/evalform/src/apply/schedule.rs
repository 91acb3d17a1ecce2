//! Runs a plan's operations in dependency order, independent ones in parallel up to a bound.
//!
//! The scheduler knows nothing of HTTP: it is given a function that performs one operation and says how it ended.
//! It never runs an operation twice, and never runs one whose dependency did not end in [`OpStatus::Done`]: those
//! are [`OpStatus::Skipped`] with the reason. Whether an unknown outcome is settled (by reading the platform again)
//! is the caller's business, after the whole schedule has run.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::task::JoinSet;

use crate::plan::Operation;

/// A request to stop an apply, set by its caller (on Ctrl-C, say) and read by the apply before each operation
/// starts and between rounds. What is already sent is never abandoned: it ends, and its outcome is recorded.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Ask the apply to stop starting operations. Idempotent.
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// How one operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum OpStatus {
    /// The platform answered with success.
    Done,
    /// The platform answered with a clean failure: nothing was applied.
    Failed(String),
    /// The request was sent and may or may not have been applied (dropped connection, timeout, 5xx).
    Unknown(String),
    /// Not sent, because an operation it depends on did not succeed.
    Skipped { because_of: usize },
    /// Not sent, because the apply was interrupted before it could start.
    NotStarted,
}

impl OpStatus {
    pub fn is_done(&self) -> bool {
        matches!(self, OpStatus::Done)
    }
}

/// Run `ops` with `perform`, at most `parallelism` at once. `on_finish` is called once per operation, in the order
/// they end (for progress). Returns each operation's status by id. Once `interrupt` is set, no operation starts:
/// those running end as they end, and every one not started is [`OpStatus::NotStarted`].
pub async fn run_schedule<F, Fut, P>(
    ops: &[Operation],
    parallelism: usize,
    interrupt: &Interrupt,
    perform: F,
    mut on_finish: P,
) -> BTreeMap<usize, OpStatus>
where
    F: Fn(Operation) -> Fut,
    Fut: Future<Output = OpStatus> + Send + 'static,
    P: FnMut(&Operation, &OpStatus),
{
    let by_id: BTreeMap<usize, &Operation> = ops.iter().map(|op| (op.id, op)).collect();
    let mut status: BTreeMap<usize, OpStatus> = BTreeMap::new();
    let mut started: std::collections::BTreeSet<usize> = Default::default();
    let mut running: JoinSet<(usize, OpStatus)> = JoinSet::new();
    let mut task_ids: std::collections::HashMap<tokio::task::Id, usize> = Default::default();

    loop {
        // Settle skips first: a dependency that ended badly (or was skipped) skips its dependents, transitively.
        let mut changed = true;
        while changed {
            changed = false;
            for op in ops {
                if started.contains(&op.id) || status.contains_key(&op.id) {
                    continue;
                }
                if let Some(bad) = op.depends_on.iter().find(|d| status.get(d).is_some_and(|s| !s.is_done())) {
                    let st = OpStatus::Skipped { because_of: *bad };
                    on_finish(op, &st);
                    status.insert(op.id, st);
                    changed = true;
                } else if op.depends_on.iter().any(|d| !by_id.contains_key(d)) {
                    let st =
                        OpStatus::Failed(format!("depends on operation {:?}, which is not in the plan", op.depends_on));
                    on_finish(op, &st);
                    status.insert(op.id, st);
                    changed = true;
                }
            }
        }
        // Start operations whose dependencies are all done, in plan order, while there is room: with a bound
        // of 1 the order is exactly the plan's.
        for op in ops {
            if running.len() >= parallelism.max(1) || interrupt.is_set() {
                break;
            }
            if started.contains(&op.id) || status.contains_key(&op.id) {
                continue;
            }
            if op.depends_on.iter().all(|d| status.get(d).is_some_and(OpStatus::is_done)) {
                started.insert(op.id);
                let fut = perform(op.clone());
                let id = op.id;
                let handle = running.spawn(async move { (id, fut.await) });
                task_ids.insert(handle.id(), id);
            }
        }
        match running.join_next().await {
            Some(Ok((id, st))) => {
                if let Some(op) = by_id.get(&id) {
                    on_finish(op, &st);
                }
                status.insert(id, st);
            }
            Some(Err(join_err)) => {
                // A panicking operation is a bug; its request may have been sent, so its outcome is unknown.
                let id = task_ids.get(&join_err.id()).copied();
                tracing::error!("an operation task failed: {join_err}");
                if let Some(id) = id {
                    let st = OpStatus::Unknown(format!("internal error while sending: {join_err}"));
                    if let Some(op) = by_id.get(&id) {
                        on_finish(op, &st);
                    }
                    status.insert(id, st);
                }
            }
            None => break,
        }
    }
    // Anything never started (interrupted, or a dependency cycle, which the planner never produces) is reported,
    // not dropped.
    for op in ops {
        if let std::collections::btree_map::Entry::Vacant(slot) = status.entry(op.id) {
            let st = if interrupt.is_set() {
                OpStatus::NotStarted
            } else {
                OpStatus::Failed("never became ready (dependency cycle)".into())
            };
            on_finish(op, &st);
            slot.insert(st);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Call;
    use std::sync::{Arc, Mutex};

    fn op(id: usize, deps: &[usize]) -> Operation {
        Operation { id, depends_on: deps.to_vec(), touches: vec![], call: Call::DeleteTestProfile { id: id as u64 } }
    }

    #[tokio::test]
    async fn runs_in_dependency_order_and_skips_dependents_of_failures() {
        let ops = vec![op(0, &[]), op(1, &[0]), op(2, &[]), op(3, &[2]), op(4, &[3]), op(5, &[1, 3])];
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        let status = run_schedule(
            &ops,
            4,
            &Interrupt::new(),
            move |op| {
                let o = o.clone();
                async move {
                    o.lock().unwrap().push(op.id);
                    match op.id {
                        2 => OpStatus::Failed("400".into()),
                        _ => OpStatus::Done,
                    }
                }
            },
            |_, _| {},
        )
        .await;
        let order = order.lock().unwrap().clone();
        assert!(order.iter().position(|&i| i == 0) < order.iter().position(|&i| i == 1));
        assert!(!order.contains(&3) && !order.contains(&4) && !order.contains(&5), "{order:?}");
        assert_eq!(status[&3], OpStatus::Skipped { because_of: 2 });
        assert_eq!(status[&4], OpStatus::Skipped { because_of: 3 });
        assert!(matches!(status[&5], OpStatus::Skipped { .. }));
        assert_eq!(status[&1], OpStatus::Done);
        assert_eq!(status.len(), 6);
    }

    #[tokio::test]
    async fn unknown_outcome_skips_dependents_and_each_op_runs_once() {
        let ops = vec![op(0, &[]), op(1, &[0]), op(2, &[])];
        let count = Arc::new(Mutex::new(BTreeMap::<usize, usize>::new()));
        let c = count.clone();
        let status = run_schedule(
            &ops,
            1,
            &Interrupt::new(),
            move |op| {
                let c = c.clone();
                async move {
                    *c.lock().unwrap().entry(op.id).or_default() += 1;
                    if op.id == 0 {
                        OpStatus::Unknown("connection closed".into())
                    } else {
                        OpStatus::Done
                    }
                }
            },
            |_, _| {},
        )
        .await;
        assert_eq!(status[&1], OpStatus::Skipped { because_of: 0 });
        assert_eq!(*count.lock().unwrap(), BTreeMap::from([(0, 1), (2, 1)]));
    }

    #[tokio::test]
    async fn once_interrupted_nothing_starts_and_what_runs_ends() {
        let ops = vec![op(0, &[]), op(1, &[]), op(2, &[1]), op(3, &[])];
        let interrupt = Interrupt::new();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (s, i) = (sent.clone(), interrupt.clone());
        let status = run_schedule(
            &ops,
            2,
            &interrupt,
            move |op| {
                let (s, i) = (s.clone(), i.clone());
                async move {
                    s.lock().unwrap().push(op.id);
                    // Ctrl-C while the first operation is on its way.
                    if op.id == 0 {
                        i.set();
                    }
                    OpStatus::Done
                }
            },
            |_, _| {},
        )
        .await;
        // 0 and 1 were started together (room for two); nothing started after the interruption.
        let mut sent = sent.lock().unwrap().clone();
        sent.sort_unstable();
        assert_eq!(sent, [0, 1]);
        assert_eq!(status[&0], OpStatus::Done);
        assert_eq!(status[&1], OpStatus::Done);
        assert_eq!(status[&2], OpStatus::NotStarted);
        assert_eq!(status[&3], OpStatus::NotStarted);
    }

    #[tokio::test]
    async fn parallelism_is_bounded() {
        let ops: Vec<_> = (0..20).map(|i| op(i, &[])).collect();
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (l, p) = (live.clone(), peak.clone());
        run_schedule(
            &ops,
            3,
            &Interrupt::new(),
            move |_| {
                let (l, p) = (l.clone(), p.clone());
                async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = l.fetch_add(1, SeqCst) + 1;
                    p.fetch_max(now, SeqCst);
                    tokio::task::yield_now().await;
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    l.fetch_sub(1, SeqCst);
                    OpStatus::Done
                }
            },
            |_, _| {},
        )
        .await;
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
    }
}
