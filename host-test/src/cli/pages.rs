//! The list verbs' paging: one page, or with `--all` every page, each
//! printed as it arrives. The guest returns one page and its continuation;
//! the walk passes that continuation back verbatim (the guest checks its
//! origin) and ends, with the error the guest's own walk gives, on a
//! continuation seen before or a page past `--max-pages`. Nothing here holds
//! more than one page: a list of any length streams in constant memory, in
//! the guest and in the CLI.

use std::io::{self, BufWriter, Write};

use comfy_table::{Cell, ColumnConstraint, Width};
use sentinel_connector::core::paging::{self, LinkGuard};
use sentinel_connector::core::Error as CoreError;
use serde::Serialize;

use super::output::{self, Format};
use super::{exit, Failure};
use crate::runtime::{types, CallError, Session};

/// A page a list verb reads: its items, and the continuation to the next one.
pub trait Page {
    type Item: Listed;
    /// What the "more ..." hint calls the items.
    const WHAT: &'static str;
    fn split(self) -> (Vec<Self::Item>, Option<String>);
}

/// How one listed item is shown: its JSON, or its row under the table's header.
pub trait Listed {
    const HEADER: &'static [&'static str];
    fn json(&self) -> impl Serialize + '_;
    fn row(&self) -> Vec<Cell>;
}

impl Page for types::IncidentPage {
    type Item = types::Incident;
    const WHAT: &'static str = "incidents";
    fn split(self) -> (Vec<Self::Item>, Option<String>) {
        (self.incidents, self.continuation)
    }
}

impl Listed for types::Incident {
    const HEADER: &'static [&'static str] = output::INCIDENT_HEADER;
    fn json(&self) -> impl Serialize + '_ {
        output::incident_json(self)
    }
    fn row(&self) -> Vec<Cell> {
        output::incident_row(self)
    }
}

/// What a list verb was asked besides its query.
#[derive(Debug)]
pub struct Walk {
    /// Every page, not just the first.
    pub all: bool,
    /// With `all`: stop with an error after this many pages (the guest's default when unset).
    pub max_pages: Option<u32>,
    /// The continuation the user gave, if the list starts there.
    pub start: Option<String>,
    /// JSON lines (one item a line) instead of one JSON array.
    pub ndjson: bool,
}

/// Lists one page (the first the options select, or the user's
/// continuation), printed, with where the next one is on stderr; or with
/// `--all` every page, each printed before the next is asked for.
/// `one_page` is the guest's one-page call; `next` the options that ask it
/// for the page a continuation names.
pub async fn list_pages<O, P: Page>(
    session: &mut Session,
    first: O,
    walk: Walk,
    format: Format,
    one_page: impl AsyncFn(&mut Session, O) -> Result<P, CallError>,
    next: impl Fn(String) -> O,
) -> Result<(), Failure> {
    let listed = print_pages(session, first, walk, format, one_page, next).await;
    // Not an option anyone needs: the tests read how far the guest's
    // memory grew while a long list streamed.
    if std::env::var_os(REPORT_GUEST_MEMORY).is_some() {
        eprintln!("guest memory: {} bytes", session.guest_memory_bytes());
    }
    listed
}

/// Set (to anything), the list verbs end with `guest memory: N bytes` on
/// stderr: the most the guest's linear memory held.
pub const REPORT_GUEST_MEMORY: &str = "SENTINEL_REPORT_GUEST_MEMORY";

async fn print_pages<O, P: Page>(
    session: &mut Session,
    first: O,
    walk: Walk,
    format: Format,
    one_page: impl AsyncFn(&mut Session, O) -> Result<P, CallError>,
    next: impl Fn(String) -> O,
) -> Result<(), Failure> {
    let style = match format {
        _ if walk.ndjson => Style::Lines,
        Format::Json => Style::Array,
        Format::Table => Style::Table,
    };
    let mut guard = LinkGuard::new(walk.max_pages);
    if let Some(start) = &walk.start {
        guard.started_at(start);
    }
    // Nothing is printed before the first page is in: a list that fails at
    // once prints nothing, as before.
    let mut page = one_page(session, first).await?;
    let mut out = Printer::new(style);
    loop {
        let (items, continuation) = page.split();
        let more = walk.all && continuation.is_some();
        if let Err(error) = out.page(&items, more) {
            return written(error);
        }
        drop(items);
        let Some(link) = continuation else { break };
        if !walk.all {
            if let Err(error) = out.finish() {
                return written(error);
            }
            eprintln!("more {}: use --all, or --continuation '{}'", P::WHAT, output::safe_line(&link));
            return Ok(());
        }
        let fetched = match guard.follow(&link) {
            Ok(()) => one_page(session, next(link)).await.map_err(not_followed),
            Err(error) => Err(walk_error(error)),
        };
        page = match fetched {
            Ok(page) => page,
            Err(error) => {
                out.abandon(P::WHAT);
                return Err(error.into());
            }
        };
    }
    out.finish().or_else(written)
}

/// A write that failed: a closed pipe (`| head`) ends the list quietly;
/// anything else is an error.
fn written(error: io::Error) -> Result<(), Failure> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return Ok(());
    }
    Err(Failure { code: exit::OTHER, message: format!("cannot write the list: {error}") })
}

/// The walk's own refusal (a loop, `--max-pages`) as the typed error the
/// guest's walk gives: `invalid-response`.
fn walk_error(error: CoreError) -> CallError {
    let (message, hint) = match error {
        CoreError::InvalidResponse(failure) | CoreError::Transport(failure) => (failure.message, failure.hint),
        other => (other.to_string(), String::new()),
    };
    CallError::Connector(types::ConnectorError::local(types::ErrorKind::InvalidResponse, "", message, hint))
}

/// The guest refuses a continuation that leaves the endpoint's origin as
/// bad input; here the service sent it, so it is the walk's
/// `invalid-response`, as in the guest's own walk.
fn not_followed(error: CallError) -> CallError {
    match error {
        CallError::Connector(input)
            if input.kind == types::ErrorKind::InvalidInput && input.subject == "continuation" =>
        {
            walk_error(paging::link_not_followed(&input.message))
        }
        other => other,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// One JSON array, exactly as `serde_json::to_string_pretty` writes it.
    Array,
    /// One compact JSON object a line.
    Lines,
    /// One table: the header once, the first page's column widths for every page.
    Table,
}

/// Prints a list page by page.
struct Printer<W: Write> {
    out: W,
    style: Style,
    /// Items printed so far.
    items: usize,
    /// The table's column widths (padding included), from its first page.
    widths: Option<Vec<u16>>,
    /// The bottom border a table page held back because more pages follow.
    bottom: Option<String>,
}

impl Printer<BufWriter<io::Stdout>> {
    fn new(style: Style) -> Self {
        Printer::to(BufWriter::with_capacity(64 << 10, io::stdout()), style)
    }
}

impl<W: Write> Printer<W> {
    fn to(out: W, style: Style) -> Self {
        Printer { out, style, items: 0, widths: None, bottom: None }
    }

    /// Prints one page; `more`: another page follows.
    fn page<T: Listed>(&mut self, items: &[T], more: bool) -> io::Result<()> {
        match self.style {
            Style::Array => {
                for item in items {
                    self.out.write_all(if self.items == 0 { b"[\n  " } else { b",\n  " })?;
                    let text = serde_json::to_string_pretty(&item.json()).map_err(io::Error::other)?;
                    // Indented one level, as inside the array: every line
                    // break of pretty JSON is structure (strings escape theirs).
                    self.out.write_all(text.replace('\n', "\n  ").as_bytes())?;
                    self.items += 1;
                }
            }
            Style::Lines => {
                for item in items {
                    serde_json::to_writer(&mut self.out, &item.json()).map_err(io::Error::other)?;
                    self.out.write_all(b"\n")?;
                    self.items += 1;
                }
            }
            Style::Table => self.table_page(items, more)?,
        }
        self.out.flush()
    }

    fn table_page<T: Listed>(&mut self, items: &[T], more: bool) -> io::Result<()> {
        // An empty page with more to come adds nothing (the header waits for rows).
        if items.is_empty() && more {
            return Ok(());
        }
        let mut table = output::new_table();
        if self.widths.is_none() {
            table.set_header(T::HEADER.to_vec());
        }
        for item in items {
            table.add_row(item.row());
        }
        if let Some(widths) = &self.widths {
            // After the rows: a constraint applies to the columns there are.
            table.set_constraints(widths.iter().map(|w| ColumnConstraint::Absolute(Width::Fixed(*w))));
        }
        let text = table.to_string();
        let mut lines: Vec<&str> = text.lines().collect();
        if self.widths.is_none() {
            self.widths = Some(column_widths(lines.first().copied().unwrap_or_default()));
        } else if !lines.is_empty() {
            // The top border: the previous page's rows continue here.
            lines.remove(0);
        }
        self.bottom = None;
        if more {
            self.bottom = lines.pop().map(str::to_owned);
        }
        for line in lines {
            writeln!(self.out, "{line}")?;
        }
        self.items += items.len();
        Ok(())
    }

    /// Ends a complete list.
    fn finish(&mut self) -> io::Result<()> {
        match self.style {
            Style::Array if self.items == 0 => self.out.write_all(b"[]\n")?,
            Style::Array => self.out.write_all(b"\n]\n")?,
            Style::Lines | Style::Table => {}
        }
        self.out.flush()
    }

    /// Ends a list cut short by an error. A table gets its bottom border; a
    /// JSON array is left open, so that no parser takes the part for the
    /// whole (JSON lines cannot say it: the exit status does).
    fn abandon(&mut self, what: &str) {
        let _ = match (self.style, self.bottom.take()) {
            (Style::Table, Some(bottom)) => writeln!(self.out, "{bottom}"),
            (Style::Array, _) if self.items > 0 => self.out.write_all(b"\n"),
            _ => Ok(()),
        };
        let _ = self.out.flush();
        if self.items > 0 {
            eprintln!("warning: stopped after {} {what}; the list above is incomplete", self.items);
        }
    }
}

/// The widths of a rendered table's columns, padding included, from its top border.
fn column_widths(top_border: &str) -> Vec<u16> {
    let inner = top_border.trim_start_matches('┌').trim_end_matches('┐');
    inner.split('┬').map(|column| column.chars().count().try_into().unwrap_or(u16::MAX)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(u32, &'static str);

    impl Listed for Item {
        const HEADER: &'static [&'static str] = &["n", "text"];
        fn json(&self) -> impl Serialize + '_ {
            serde_json::json!({"n": self.0, "text": self.1, "nested": {"list": [1, 2], "empty": []}})
        }
        fn row(&self) -> Vec<Cell> {
            output::row([self.0.to_string(), self.1.to_owned()])
        }
    }

    fn items((start, end): (u32, u32)) -> Vec<Item> {
        (start..end).map(|n| Item(n, if n % 2 == 0 { "even\nline \"quoted\"" } else { "odd" })).collect()
    }

    /// Pages of items numbered `start..end`.
    fn printed(style: Style, pages: &[(u32, u32)]) -> String {
        let mut printer = Printer::to(Vec::new(), style);
        for (i, page) in pages.iter().enumerate() {
            printer.page(&items(*page), i + 1 < pages.len()).unwrap();
        }
        printer.finish().unwrap();
        String::from_utf8(printer.out).unwrap()
    }

    #[test]
    fn a_streamed_array_is_what_one_pretty_array_was() {
        for pages in [vec![], vec![(0, 0)], vec![(0, 1)], vec![(0, 3), (3, 3), (3, 7)], vec![(0, 0), (0, 2)]] {
            let all: Vec<Item> = pages.iter().flat_map(|page| items(*page)).collect();
            let whole = serde_json::to_string_pretty(&all.iter().map(|i| i.json()).collect::<Vec<_>>()).unwrap();
            assert_eq!(printed(Style::Array, &pages), format!("{whole}\n"), "{pages:?}");
        }
    }

    #[test]
    fn json_lines_are_one_object_a_line() {
        let text = printed(Style::Lines, &[(0, 2), (2, 5)]);
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.iter().map(|l| l["n"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(printed(Style::Lines, &[(0, 0)]), "");
    }

    #[test]
    fn a_table_has_its_header_once_and_one_set_of_borders() {
        let one = printed(Style::Table, &[(0, 4)]);
        let mut table = output::new_table();
        table.set_header(Item::HEADER.to_vec());
        for item in items((0, 4)) {
            table.add_row(item.row());
        }
        assert_eq!(one, format!("{table}\n"), "one page: the table as before");

        let text = printed(Style::Table, &[(0, 0), (0, 3), (3, 5), (5, 6)]);
        assert_eq!(text.matches("text").count(), 1, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with('┌')).count(), 1, "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with('└')).count(), 1, "{text}");
        let width = text.lines().next().unwrap().chars().count();
        assert!(text.lines().all(|l| l.chars().count() == width), "aligned:\n{text}");
        for n in 0..6 {
            assert!(text.contains(&format!("│ {n} ")), "{n}: {text}");
        }
    }

    #[test]
    fn an_abandoned_array_stays_open_and_a_table_closes() {
        let mut printer = Printer::to(Vec::new(), Style::Array);
        printer.page(&items((0, 2)), true).unwrap();
        printer.abandon("items");
        let text = String::from_utf8(printer.out).unwrap();
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "{text}");
        assert!(text.starts_with("[\n") && text.ends_with("}\n"), "{text}");

        let mut printer = Printer::to(Vec::new(), Style::Table);
        printer.page(&items((0, 2)), true).unwrap();
        printer.abandon("items");
        let text = String::from_utf8(printer.out).unwrap();
        assert!(text.lines().last().unwrap().starts_with('└'), "{text}");
    }
}
