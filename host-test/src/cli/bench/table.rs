//! The table `sentinel bench` writes: each measure with its goal beside it,
//! whether this run met it, and how it was measured; then the figures that
//! have no goal; then the command line and the machine at the top.

use std::time::Duration;

/// One line of the table.
pub struct Row {
    pub measure: String,
    pub value: String,
    pub goal: String,
    /// `None`: a figure with no goal (or one that only reports).
    pub met: Option<bool>,
    pub note: String,
}

impl Row {
    pub fn new(measure: impl Into<String>, value: impl Into<String>) -> Row {
        Row { measure: measure.into(), value: value.into(), goal: String::new(), met: None, note: String::new() }
    }

    pub fn goal(mut self, goal: impl Into<String>, met: bool) -> Row {
        self.goal = goal.into();
        self.met = Some(met);
        self
    }

    /// A goal this run reports against without a yes or no (e.g. "report it").
    pub fn target(mut self, goal: impl Into<String>) -> Row {
        self.goal = goal.into();
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }

    /// A measure that could not be taken: said in the table, not hidden.
    pub fn failed(measure: impl Into<String>, goal: impl Into<String>, why: impl Into<String>) -> Row {
        Row::new(measure, "failed").goal(goal, false).note(why)
    }

    /// A measure this run was told to skip.
    pub fn skipped(measure: impl Into<String>, goal: impl Into<String>, how: impl Into<String>) -> Row {
        Row::new(measure, "not run").target(goal).note(how)
    }
}

/// Everything above the tables.
pub struct Header {
    pub command: String,
    pub machine: String,
    pub component: String,
    pub started: String,
    pub took: Duration,
}

pub fn render(header: &Header, goals: &[Row], others: &[Row]) -> String {
    let build = if cfg!(debug_assertions) {
        "**DEBUG build: rerun with `--profile host` for real figures**"
    } else {
        "optimized build (`--profile host`)"
    };
    let met = goals.iter().filter(|row| row.met == Some(true)).count();
    let judged = goals.iter().filter(|row| row.met.is_some()).count();
    format!(
        "# Benchmark\n\n\
         Command: `{}`\n\n\
         Machine: {}; {build}.\n\n\
         Component: {}.\n\n\
         One run, started {} and taking {:.0} s; the emulator runs in the bench's process and \
         everything talks over loopback (127.0.0.1). {met} of {judged} goals met.\n\n\
         ## Goals (issues 12 and 17)\n\n{}\n\n## Other figures\n\n{}\n\n{}",
        header.command,
        header.machine,
        header.component,
        header.started,
        header.took.as_secs_f64(),
        table(goals, true),
        table(others, false),
        METHOD,
    )
}

fn table(rows: &[Row], with_goals: bool) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    if with_goals {
        table.set_header(["measure", "value", "goal", "met?", "note"]);
    } else {
        table.set_header(["measure", "value", "note"]);
    }
    for row in rows {
        let cells = [&row.measure, &row.value, &row.goal, &verdict(row.met), &row.note];
        if with_goals {
            table.add_row(cells.map(|cell| cell.replace('|', "/")));
        } else {
            table.add_row([cells[0], cells[1], cells[4]].map(|cell| cell.replace('|', "/")));
        }
    }
    table
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "yes".into(),
        Some(false) => "**no**".into(),
        None => "-".into(),
    }
}

const METHOD: &str = "## How it is measured

- Sessions: one `ConnectorHost` with `Limits.max_sessions` equal to the sessions opened, every session \
kept open until the last; open times are per session (`ConnectorHost::open_measured`: instantiate, then the \
guest's `open`); memory is the process's resident set (VmRSS) after minus before, divided by the sessions.
- Whole-process figures: each client is a child process of the bench; time is wall-clock from spawn to \
exit; CPU is user + system time from `wait4` of that child; peak memory is the child's `VmHWM`, read from \
/proc every 2 ms while it runs (its `ru_maxrss` starts at the size of the bench that spawned it). The CLI is \
`sentinel -o json incidents list --all --top 1000` (its output read from a pipe and counted), after one \
untimed run that fills its compiled-component cache. The Python peer is `bench/peer/sdk_list.py`: \
azure-mgmt-securityinsight 1.0.0's pager, `top=1000`, with `api_version=\"2025-09-01\"` and \
`enforce_https=False` per call (azure-core's opt-out of its HTTPS check for a bearer token, needed for \
the http:// loopback emulator) and a token credential of its own that runs the client-credentials grant \
against the emulator. Plain page fetching is `sentinel bench --fetch-pages`: hyper on one kept-alive \
connection, one token, then each page read whole and its `nextLink` followed, nothing parsed.
- Emulator alone: one kept-alive hyper connection walking every page of 1,000 again and again for a fixed \
time; the value is pages a second, and the time a page takes is their mean.
- `poll --details`: one session's poll of 50 new incidents with their alerts and entities (100 detail \
requests), the emulator adding its latency to every ARM answer. Waves is the same list and the same 100 \
requests sent by plain hyper, 8 at a time, each group waiting for its slowest.
- First request: from before `ConnectorHost::new` (engine, the component from the cache, the build-time \
artifact or a compile, `InstancePre`) through opening a session to the moment the first request leaves (the \
audit hook's start time), in-process. No cache: no cache directory at all, as on a fresh machine.
- Serve: `sentinel serve` as a child process with one tenant file per tenant of a multi-tenant emulator \
in the bench's process; its NDJSON is read from the pipe and each line timed as it arrives. The backlog is \
from spawn to the last seeded incident delivered; then one incident per tenant is inserted, spread over \
5 s, and each one's lag is from its insertion to its line. Every delivery is counted by idempotency key and \
by (tenant, incident) against the emulator's incidents. Memory is the child's `VmHWM` before SIGTERM.
- Fleet: a nats-server (scripts/setup's, `.venv/bin/nats-server`) on a free loopback port and three \
`sentinel serve --nats` children sharing one tenant file per tenant; an incident is added every 20 ms for \
60 s; the first worker SIGKILLs itself after its Nth delivered batch, before that batch's cursor commit \
(`--test-kill-after-batches`), the second gets SIGTERM halfway, the third at the end. The stream is then \
read message by message (counted by `Nats-Msg-Id` and by tenant, incident, version and kind), each \
cursor key's history read back, and each stopped worker's tenants (from its `lease taken` and `lease \
given back` log lines) timed from its exit (or its SIGTERM) to another worker's `lease taken`.
";
