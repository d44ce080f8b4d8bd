//! Calendar files: `{dir}/{name}.toml`, each holding `dates` (and optionally `description`
//! and `weekend`) as `PUT /calendars/{name}` takes them. At start-up, each calendar the
//! database does not have yet is written from its file; one it has stays as the API left it.

use std::path::Path;

use anyhow::Context;

/// The calendars of the `.toml` files in `dir`, by name (the file's stem), as JSON bodies.
/// No directory (or an empty setting): none. A file that cannot be read or is not TOML is
/// logged and left out: one bad file does not keep the service from starting.
pub fn read(dir: &str) -> Vec<(String, serde_json::Value)> {
    if dir.is_empty() || !Path::new(dir).is_dir() {
        if !dir.is_empty() {
            tracing::debug!(dir, "no calendar directory");
        }
        return Vec::new();
    }
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => (entries.filter_map(|entry| entry.ok().map(|entry| entry.path())))
            .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
            .collect(),
        Err(error) => {
            tracing::warn!(dir, %error, "the calendar directory cannot be read; no calendar file is loaded");
            return Vec::new();
        }
    };
    paths.sort();
    (paths.into_iter())
        .filter_map(|path| match body_of(&path) {
            Ok(body) => Some(body),
            Err(error) => {
                tracing::warn!(file = %path.display(), error = %format!("{error:#}"), "calendar file left out");
                None
            }
        })
        .collect()
}

/// A calendar file's name and body.
fn body_of(path: &Path) -> anyhow::Result<(String, serde_json::Value)> {
    let name = (path.file_stem())
        .and_then(|stem| stem.to_str())
        .context("the file name is not UTF-8")?
        .to_string();
    let text = std::fs::read_to_string(path).context("reading it")?;
    let value: toml::Value = toml::from_str(&text).context("it is not valid TOML")?;
    Ok((name, crate::cli::apply::toml_as_json(value)))
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    #[test]
    fn the_shipped_krx_calendar_lists_weekdays_of_2025_to_2027() {
        let files = super::read(concat!(env!("CARGO_MANIFEST_DIR"), "/config/calendars"));
        let (name, body) = (files.iter())
            .find(|(name, _)| name == "krx")
            .expect("krx.toml");
        let krx = actors::calendar::Calendar::from_body(name, body).unwrap();
        assert_eq!(krx.weekend, [5, 6].into(), "Saturday and Sunday");
        for year in 2025..=2027 {
            let days: Vec<_> = (krx.dates.iter()).filter(|d| d.year() == year).collect();
            assert!(days.len() >= 15, "{year}: {days:?}");
            assert!(
                days.iter().any(|d| (d.month(), d.day()) == (1, 1))
                    && days.iter().any(|d| (d.month(), d.day()) == (12, 31)),
                "{year}: New Year's Day and the year-end closing day"
            );
        }
        // Weekends are closed by `weekend`: a listed Saturday or Sunday is a typo.
        let weekend: Vec<_> = (krx.dates.iter())
            .filter(|d| d.weekday().number_from_monday() >= 6)
            .collect();
        assert!(weekend.is_empty(), "{weekend:?}");
        assert_eq!(krx.dates.len(), 51);
    }

    #[test]
    fn unquoted_toml_dates_are_read_and_a_bad_file_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("desk.toml"),
            "dates = [2026-09-24, \"2026-09-25\"]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.toml"), "dates = [\n").unwrap();
        let files = super::read(dir.path().to_str().unwrap());
        assert_eq!(files.len(), 1, "{files:?}");
        let desk = actors::calendar::Calendar::from_body(&files[0].0, &files[0].1).unwrap();
        assert_eq!(desk.dates.len(), 2);
    }
}
