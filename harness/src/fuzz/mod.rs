//! `sockcheck fuzz`: differential testing against the reference. Cases are generated from
//! a suite's own cases ([`gen`]), each recorded from the reference (its transcript is the
//! expectation, as a fixture is) and then checked against the implementation with the
//! suites' own rules (strict wire, lenient stdout, the program's tolerances). A case the
//! implementation fails is shrunk to a smallest one that still fails, and given as a
//! `.case` file with the seed that found it. With no implementation, the reference is
//! checked against itself: a disagreement there is the harness's own bug.

pub mod frames;
pub mod gen;

use crate::batch::in_parallel;
use crate::catalog::Suite;
use crate::engine::{self, Mode, Outcome, Timing, Verdict};
use crate::fixture::Fixture;
use crate::iut::IutSpec;
use crate::script::{self, Role};
use gen::{Generated, Template};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to fuzz, and how much.
pub struct Plan<'a> {
    pub suite: &'a Suite,
    pub role: Role,
    /// The reference, which records each case's expectation.
    pub reference: IutSpec,
    /// The implementation checked against it (the reference itself for a self-check).
    pub target: IutSpec,
    pub seed: u64,
    pub cases: u64,
    /// Stop starting cases after this long.
    pub time: Option<Duration>,
    pub jobs: usize,
    pub timing: Timing,
    /// At most this many shrinking steps (each a record and a check), and this long.
    pub shrink_steps: usize,
    pub shrink_time: Duration,
}

/// How one generated case went.
#[derive(Debug, Clone)]
pub enum Trial {
    /// The reference did not record it cleanly (it failed or reached a deadline): the case
    /// asks something the reference does not do, and says nothing of the implementation.
    Invalid(String),
    /// The implementation agrees with the reference (pass or non-strict).
    Agrees,
    /// The implementation disagrees: failed or errored, with its outcome.
    Disagrees(Box<Outcome>),
}

/// A disagreement, as found and as shrunk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The index of the case in the seed's sequence.
    pub index: u64,
    pub case: String,
    pub shrunk: String,
    pub shrink_steps: usize,
    pub outcome: Outcome,
}

/// What a fuzzing run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub run: u64,
    pub invalid: u64,
    pub agreed: u64,
    /// Every disagreement's index, the first of them shrunk in `found`.
    pub disagreements: Vec<u64>,
    pub found: Option<Found>,
    /// The suite's cases for the role had nothing to vary (no case was run).
    pub nothing_to_vary: bool,
    /// Why the first case the reference could not record was not recorded.
    pub first_invalid: Option<String>,
    pub elapsed: Duration,
}

/// The random source of case `index` of `seed`: each case its own, so that a case is the
/// same whatever ran before it and on whichever thread.
fn runner(seed: u64, index: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    bytes[16..24].copy_from_slice(b"sockchck");
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// The case text of case `index` of `seed` (what `--seed S` replays).
pub fn case_text(templates: &[Template], role: Role, seed: u64, index: u64) -> Option<String> {
    let value = tree(templates, seed, index)?.current();
    Some(gen::render(role, &templates[value.template], &value))
}

fn tree(
    templates: &[Template],
    seed: u64,
    index: u64,
) -> Option<Box<dyn ValueTree<Value = Generated>>> {
    if templates.is_empty() {
        return None;
    }
    gen::strategy(templates.to_vec())
        .new_tree(&mut runner(seed, index))
        .ok()
        .map(|t| Box::new(t) as Box<dyn ValueTree<Value = Generated>>)
}

/// Records `text` from the reference, then checks the target against that recording.
pub fn trial(plan: &Plan, name: &str, text: &str) -> Trial {
    trial_timed(plan, &plan.timing, name, text)
}

/// [`trial`] with other deadlines.
fn trial_timed(plan: &Plan, timing: &Timing, name: &str, text: &str) -> Trial {
    let case = match script::parse(&plan.suite.info.id, name, text) {
        Ok(case) => case,
        Err(e) => return Trial::Invalid(format!("the generated case does not parse: {e}")),
    };
    let info = &plan.suite.info;
    let recorded = engine::run(&case, info, &plan.reference, &Mode::Record, timing);
    if recorded.verdict != Verdict::Pass || recorded.deadlines > 0 {
        return Trial::Invalid(format!(
            "the reference did not record it cleanly ({}): {}",
            recorded.verdict.word(),
            recorded.message.unwrap_or_default()
        ));
    }
    let fixture = Fixture {
        lines: recorded.transcript,
    };
    let checked = engine::run(&case, info, &plan.target, &Mode::Check(fixture), timing);
    match checked.verdict {
        Verdict::Pass | Verdict::NonStrict | Verdict::Skipped => Trial::Agrees,
        Verdict::Fail | Verdict::Error => Trial::Disagrees(Box::new(checked)),
    }
}

/// Runs the plan: its cases `--jobs` at a time until the count or the time is spent, then
/// shrinks the first disagreement.
pub fn run(plan: &Plan) -> Summary {
    let started = Instant::now();
    let quit = plan
        .suite
        .info
        .words
        .get("quit")
        .map(|w| w.as_bytes().to_vec())
        .unwrap_or_else(|| b"q".to_vec());
    let templates = gen::templates(plan.suite, plan.role, &quit);
    if templates.is_empty() {
        return Summary {
            nothing_to_vary: true,
            elapsed: started.elapsed(),
            ..Summary::default()
        };
    }
    let indices: Vec<u64> = (0..plan.cases).collect();
    let out_of_time = AtomicBool::new(false);
    let trials = in_parallel(&indices, plan.jobs, |_, &index| {
        if out_of_time.load(Ordering::Relaxed) {
            return None;
        }
        if plan.time.is_some_and(|t| started.elapsed() >= t) {
            out_of_time.store(true, Ordering::Relaxed);
            return None;
        }
        let text = case_text(&templates, plan.role, plan.seed, index)?;
        Some((
            index,
            text.clone(),
            trial(plan, &format!("fuzz-{index}"), &text),
        ))
    });
    let mut summary = Summary::default();
    let mut first: Option<(u64, String, Outcome)> = None;
    for (index, text, trial) in trials.into_iter().flatten() {
        summary.run += 1;
        match trial {
            Trial::Invalid(why) => {
                summary.invalid += 1;
                summary
                    .first_invalid
                    .get_or_insert_with(|| format!("case {index}: {why}"));
            }
            Trial::Agrees => summary.agreed += 1,
            Trial::Disagrees(outcome) => {
                summary.disagreements.push(index);
                if first.is_none() {
                    first = Some((index, text, *outcome));
                }
            }
        }
    }
    if let Some((index, case, outcome)) = first {
        summary.found = Some(shrink(plan, &templates, index, case, outcome));
    }
    summary.elapsed = started.elapsed();
    summary
}

/// Shrinks case `index` with proptest's value tree: simpler while it still fails, back
/// when it stops failing, until nothing simpler is left or the steps are spent.
fn shrink(
    plan: &Plan,
    templates: &[Template],
    index: u64,
    case: String,
    outcome: Outcome,
) -> Found {
    let mut found = Found {
        index,
        shrunk: case.clone(),
        case,
        shrink_steps: 0,
        outcome,
    };
    let original = found.outcome.clone();
    let Some(mut tree) = tree(templates, plan.seed, index) else {
        return found;
    };
    let mut steps = 0;
    // Whether a shorter deadline's run stands for the case (to be checked again).
    let mut shrank = false;
    let started = Instant::now();
    // Most steps that still fail wait out an observation's deadline: shorter ones while
    // shrinking, and the case it ends with checked again with the run's own.
    let quick = Timing {
        observe: plan.timing.observe.min(SHRINK_OBSERVE),
        ..plan.timing.clone()
    };
    if tree.simplify() {
        while steps < plan.shrink_steps && started.elapsed() < plan.shrink_time {
            steps += 1;
            let value = tree.current();
            let text = gen::render(plan.role, &templates[value.template], &value);
            match trial_timed(plan, &quick, &format!("fuzz-{index}"), &text) {
                Trial::Disagrees(outcome) => {
                    found.shrunk = text;
                    found.outcome = *outcome;
                    shrank = true;
                    if !tree.simplify() {
                        break;
                    }
                }
                _ => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    found.shrink_steps = steps;
    if shrank {
        match trial(plan, &format!("fuzz-{index}"), &found.shrunk) {
            Trial::Disagrees(outcome) => found.outcome = *outcome,
            // Failed only for the shorter deadlines: the case as found stands.
            _ => {
                found.shrunk = found.case.clone();
                found.outcome = original;
            }
        }
    }
    found
}

/// How long an observation waits while shrinking (at most the run's own deadline).
const SHRINK_OBSERVE: Duration = Duration::from_secs(2);

/// The shrunk case as a `.case` file a teacher can drop into a suite: what found it, what
/// failed, then the case.
pub fn case_file(program: &str, seed: u64, found: &Found) -> String {
    let mut about = format!(
        "# found by `sockcheck fuzz {program} --seed {seed}` (case {}), shrunk in {} steps",
        found.index, found.shrink_steps
    );
    if let Some(message) = &found.outcome.message {
        let message: String = message.chars().take(300).collect();
        about.push_str(&format!("\n# it failed: {}", message.replace('\n', " ")));
    }
    format!("{about}\n{}", found.shrunk)
}
