//! Runs many cases: builds the plan (which case against which command), runs it with a
//! bounded number of cases at once (each isolated, so they may overlap), and collects one
//! result per case in plan order.

use crate::catalog::{Catalog, Suite};
use crate::engine::{self, Mode, Outcome, ProgramInfo, Timing, Verdict};
use crate::iut::IutSpec;
use crate::manifest::Implementation;
use crate::script::{Case, Role};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One case to run, and against what.
#[derive(Debug, Clone)]
pub struct Job {
    pub suite: Suite,
    pub case: Case,
    /// `None`: the implementation does not provide this role (skipped).
    pub spec: Option<IutSpec>,
}

/// The result of one case, with everything a report needs.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub program: String,
    pub role: Role,
    pub case: String,
    pub about: String,
    /// The command that played the role (for the "reproduce" line).
    pub command: Option<String>,
    pub outcome: Outcome,
    /// The fixture's lines, where there is one.
    pub expected: Option<Vec<String>>,
    pub silence: Duration,
}

/// The command that runs the bundled reference implementation through `exe`
/// (`sockcheck reference <id> <role> --addr {addr}`), given the suite's words.
pub fn reference_command(exe: &Path, program: &ProgramInfo, role: Role) -> String {
    // For `sh -c`: shlex's POSIX quoting (a NUL, which no shell word can hold, is dropped).
    let quote = |s: &str| {
        let s = s.replace('\0', "");
        shlex::try_quote(&s).map_or_else(|_| s.clone(), |q| q.into_owned())
    };
    let mut command = format!(
        "{} reference {} {role} --addr {{addr}}",
        quote(&exe.display().to_string()),
        program.id
    );
    for (name, value) in &program.words {
        command.push_str(&format!(" --word {}", quote(&format!("{name}={value}"))));
    }
    command
}

/// What plays `role` of a program when the bundled reference does (through `exe`).
pub fn reference_spec(exe: &Path, program: &ProgramInfo, role: Role) -> IutSpec {
    IutSpec {
        command: reference_command(exe, program, role),
        workdir: None,
        isolation: Default::default(),
        limits: Default::default(),
        hidden: Vec::new(),
    }
}

/// Plans every case of `ids` against the reference implementation run through `exe`.
pub fn plan_reference(catalog: &Catalog, ids: &[String], exe: &Path) -> Vec<Job> {
    plan(catalog, ids, |suite, role| {
        Some(reference_spec(exe, &suite.info, role))
    })
}

/// Plans every case of the programs an implementation set provides; roles it lacks are
/// skipped. `workdir` is copied for every run.
pub fn plan_implementations(
    catalog: &Catalog,
    impls: &BTreeMap<String, Implementation>,
    workdir: Option<&Path>,
) -> Vec<Job> {
    let ids: Vec<String> = impls.keys().cloned().collect();
    let mut jobs = plan(catalog, &ids, |suite, role| {
        let imp = impls.get(&suite.info.id)?;
        let command = match role {
            Role::Server => imp.server.clone(),
            Role::Client => imp.client.clone(),
        }?;
        Some(IutSpec {
            command,
            workdir: workdir.map(PathBuf::from),
            isolation: Default::default(),
            limits: Default::default(),
            hidden: Vec::new(),
        })
    });
    for job in &mut jobs {
        if let Some(addr) = impls.get(&job.suite.info.id).and_then(|i| i.addr) {
            job.suite.info.addr = addr;
        }
    }
    jobs
}

fn plan(
    catalog: &Catalog,
    ids: &[String],
    spec: impl Fn(&Suite, Role) -> Option<IutSpec>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for id in ids {
        let Some(suite) = catalog.suite(id) else {
            continue;
        };
        for case in &suite.cases {
            jobs.push(Job {
                suite: suite.clone(),
                case: case.clone(),
                spec: spec(suite, case.role),
            });
        }
    }
    jobs
}

/// Runs the jobs, at most `parallel` at once, checking each against its fixture; `progress`
/// is given each job's index and result as it ends.
pub fn run(
    jobs: &[Job],
    parallel: usize,
    timing: &Timing,
    progress: &(dyn Fn(usize, &CaseResult) + Sync),
) -> Vec<CaseResult> {
    in_parallel(jobs, parallel, |i, job| {
        let result = run_one(job, timing);
        progress(i, &result);
        result
    })
}

/// `work` on each item, at most `parallel` at once (each case runs on a thread of its own,
/// which enters its namespaces): the results in the items' order.
pub fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    parallel: usize,
    work: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let result = work(i, item);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

pub fn run_one(job: &Job, timing: &Timing) -> CaseResult {
    let fixture = job.suite.fixtures.get(&job.case.name);
    let outcome = match (&job.spec, fixture) {
        (None, _) => Outcome::new(
            Verdict::Skipped,
            Some(format!("no {} command was given", job.case.role)),
        ),
        (Some(_), None) => Outcome::error(format!(
            "no fixture `fixtures/{}/{}.snap`: record it from the reference (cargo insta test, then cargo insta review)",
            job.suite.info.id, job.case.name
        )),
        (Some(spec), Some(fixture)) => {
            engine::run(&job.case, &job.suite.info, spec, &Mode::Check(fixture.clone()), timing)
        }
    };
    CaseResult {
        program: job.suite.info.id.clone(),
        role: job.case.role,
        case: job.case.name.clone(),
        about: job.case.about.clone(),
        command: job.spec.as_ref().map(|s| s.command.clone()),
        outcome,
        expected: fixture.map(|f| f.lines.clone()),
        silence: job.case.silence(),
    }
}
