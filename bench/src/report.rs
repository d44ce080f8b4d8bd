//! `bench/RESULTS.md`: what ran where, every figure, the targets and the findings.

use std::fmt::Write;

/// One target of the issue and whether this run met it.
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Default)]
pub struct Report {
    pub sections: Vec<String>,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn section(&mut self, text: String) {
        println!("{text}");
        self.sections.push(text);
    }

    pub fn check(&mut self, target: &str, measured: String, met: bool) {
        println!(
            "target: {target}: {measured} ({})",
            if met { "met" } else { "MISSED" }
        );
        self.checks.push(Check {
            target: target.to_string(),
            measured,
            met,
        });
    }

    /// Something a reader must know about this run (a baseline that armed late, a failure).
    pub fn note(&mut self, text: String) {
        eprintln!("note: {text}");
        self.notes.push(text);
    }

    pub fn render(&self, header: &str, findings: &str) -> String {
        let mut out = String::new();
        out.push_str(header);
        out.push_str("\n## Targets\n\n| target | this run | |\n|---|---|---|\n");
        for check in &self.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                check.target,
                check.measured,
                if check.met { "met" } else { "**missed**" }
            );
        }
        if !self.notes.is_empty() {
            out.push_str("\n## Notes on this run\n\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        for section in &self.sections {
            out.push('\n');
            out.push_str(section);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(findings);
        out
    }
}

/// A Markdown table.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}
