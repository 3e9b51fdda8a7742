//! Clients measured as whole processes: spawned, their output read from a
//! pipe, and reaped with `wait4`, whose `rusage` is that child's own CPU
//! time. Its peak resident set is the child's `VmHWM`, sampled from /proc
//! while it runs: `ru_maxrss` cannot say it, because Linux starts a child's
//! maximum at the size of the process that spawned it (here the bench, with
//! its emulator), which `exec` then keeps.

use std::ffi::OsString;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What the child printed, as the bench needs it.
#[derive(Clone, Copy)]
pub enum Capture {
    /// How many times this pattern occurs in stdout (the CLI's incidents).
    Count(&'static [u8]),
    /// Stdout itself, up to 64 KiB (a peer's one-line summary).
    Keep,
}

/// One finished child.
pub struct Measured {
    pub wall: Duration,
    /// User plus system time.
    pub cpu: Duration,
    pub peak_rss_bytes: u64,
    /// Occurrences of the counted pattern, or 0.
    pub count: usize,
    /// Bytes written to stdout.
    pub bytes: u64,
    pub stdout: String,
}

pub struct Child {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
}

impl Child {
    pub fn new(program: impl Into<PathBuf>) -> Child {
        Child { program: program.into(), args: Vec::new(), env: Vec::new() }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Child {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: Into<OsString>>(mut self, args: impl IntoIterator<Item = I>) -> Child {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Child {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Runs the child to its end on a blocking thread (the emulator it talks
    /// to keeps serving on the runtime); an exit other than 0 is an error
    /// carrying the end of its stderr.
    pub async fn run(self, capture: Capture) -> Result<Measured, String> {
        tokio::task::spawn_blocking(move || self.run_blocking(capture))
            .await
            .map_err(|e| format!("the child's thread panicked: {e}"))?
    }

    fn run_blocking(self, capture: Capture) -> Result<Measured, String> {
        let name = self.program.display().to_string();
        let started = Instant::now();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let out = thread::spawn(move || read_stdout(stdout, capture));
        let err = thread::spawn(move || read_tail(stderr, 4096));
        let peak = PeakSampler::start(child.id());
        let waited = wait4(child.id());
        let wall = started.elapsed();
        let peak_rss_bytes = peak.stop();
        let (status, cpu) = waited.map_err(|e| format!("cannot wait for {name}: {e}"))?;
        let (count, bytes, stdout) = out.join().map_err(|_| "the stdout reader panicked")?;
        let stderr = err.join().map_err(|_| "the stderr reader panicked")?;
        if status != 0 {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            return Err(format!("{name} exited with {status}: {last}"));
        }
        Ok(Measured { wall, cpu, peak_rss_bytes, count, bytes, stdout })
    }
}

fn read_stdout(mut from: impl Read, capture: Capture) -> (usize, u64, String) {
    let mut buffer = vec![0u8; 1 << 16];
    let (mut count, mut bytes, mut kept, mut carry) = (0, 0, Vec::new(), Vec::new());
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        bytes += read as u64;
        match capture {
            Capture::Count(pattern) => {
                // The pattern may straddle two reads: keep its length less one.
                carry.extend_from_slice(&buffer[..read]);
                count += carry.windows(pattern.len()).filter(|w| *w == pattern).count();
                let keep = carry.len().min(pattern.len() - 1);
                carry.drain(..carry.len() - keep);
            }
            Capture::Keep if kept.len() < 1 << 16 => kept.extend_from_slice(&buffer[..read]),
            Capture::Keep => {}
        }
    }
    (count, bytes, String::from_utf8_lossy(&kept).into_owned())
}

fn read_tail(mut from: impl Read, limit: usize) -> String {
    let mut all = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(read @ 1..) = from.read(&mut buffer) {
        all.extend_from_slice(&buffer[..read]);
        if all.len() > 2 * limit {
            all.drain(..all.len() - limit);
        }
    }
    String::from_utf8_lossy(&all[all.len().saturating_sub(limit)..]).into_owned()
}

/// The child's high-water resident set, read from /proc/PID/status every
/// 2 ms until it exits (what it gains in its last 2 ms can be missed).
struct PeakSampler {
    done: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: thread::JoinHandle<()>,
}

impl PeakSampler {
    fn start(pid: u32) -> PeakSampler {
        let (done, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let (stop, high) = (done.clone(), peak.clone());
        let thread = thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            while !stop.load(Ordering::Acquire) {
                // A zombie has no VmHWM line: the last reading stands.
                if let Some(kib) = std::fs::read_to_string(&path).ok().as_deref().and_then(high_water_kib) {
                    high.fetch_max(kib * 1024, Ordering::AcqRel);
                }
                thread::sleep(Duration::from_millis(2));
            }
        });
        PeakSampler { done, peak, thread }
    }

    fn stop(self) -> u64 {
        self.done.store(true, Ordering::Release);
        let _ = self.thread.join();
        self.peak.load(Ordering::Acquire)
    }
}

fn high_water_kib(status: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()
}

/// Reaps the child and reads its CPU time (user + system) from its `rusage`:
/// `wait4`, which std does not expose (`Child::wait` reaps without it).
#[allow(unsafe_code)]
fn wait4(pid: u32) -> io::Result<(i32, Duration)> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is a plain C struct of integers, valid all zero.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok((code, time(usage.ru_utime) + time(usage.ru_stime)))
}
