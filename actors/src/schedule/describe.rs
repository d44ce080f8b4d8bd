//! A schedule in words, for people: `30 8 * * 1-5` → "at 08:30, Monday to Friday". The words
//! follow the evaluator's rules (Vixie cron: both day fields restricted means either matches).
//! Only expressions that [`super::CronSchedule::parse`] accepts are described.

pub(super) const DAYS: [&str; 8] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A cron expression in words (the expression itself when it is not five fields).
pub fn describe_cron(expr: &str) -> String {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [minute, hour, day_of_month, month, day_of_week] = fields[..] else {
        return expr.to_string();
    };
    let mut parts = vec![time_words(minute, hour)];
    let dom = (day_of_month != "*").then(|| days_of_month_words(day_of_month));
    let dow = (day_of_week != "*").then(|| days_of_week_words(day_of_week));
    match (dom, dow) {
        (None, None) => {}
        (Some(dom), None) => parts.push(dom),
        (None, Some(dow)) => parts.push(dow),
        (Some(dom), Some(dow)) => {
            // Vixie cron ANDs the day fields when either starts with `*`, else ORs them.
            let joiner = if day_of_month.starts_with('*') || day_of_week.starts_with('*') {
                "and"
            } else {
                "or"
            };
            parts.push(format!("{dom} {joiner} {dow}"));
        }
    }
    if month != "*" {
        parts.push(months_words(month));
    }
    parts.join(", ")
}

/// An interval in words, in its largest whole unit: 300 → "every 5 minutes", 3600 → "every
/// hour".
pub fn describe_interval(seconds: i64) -> String {
    let units = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    for (size, unit) in units {
        if seconds % size == 0 && seconds >= size {
            let n = seconds / size;
            return if n == 1 {
                format!("every {unit}")
            } else {
                format!("every {n} {unit}s")
            };
        }
    }
    format!("every {seconds} seconds")
}

fn name(value: &str, names: &[&str], first: usize) -> String {
    if let Ok(number) = value.parse::<usize>() {
        if let Some(name) = number.checked_sub(first).and_then(|i| names.get(i)) {
            return name.to_string();
        }
    }
    // A name written in the expression (`MON`, `jan`).
    names
        .iter()
        .find(|name| name[..3].eq_ignore_ascii_case(value))
        .map_or_else(|| value.to_string(), |name| name.to_string())
}

/// A list field (`1-5`, `1,3`, `*/2`, `MON-FRI`) in words, each value named by `show`.
fn field_words(field: &str, show: &dyn Fn(&str) -> String) -> String {
    let items: Vec<String> = field
        .split(',')
        .map(|item| {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (item, None),
            };
            let range = match range.split_once('-') {
                Some((from, to)) => format!("{} to {}", show(from), show(to)),
                None if range == "*" => "any".to_string(),
                None => show(range),
            };
            match step {
                Some("1") => range,
                Some(step) if range == "any" => format!("every {}", ordinal(step)),
                Some(step) => format!("every {} from {range}", ordinal(step)),
                None => range,
            }
        })
        .fold(Vec::new(), |mut unique, item| {
            if !unique.contains(&item) {
                unique.push(item);
            }
            unique
        });
    join_words(&items)
}

fn days_of_month_words(field: &str) -> String {
    if let Some(Ok(extension)) = super::extensions::DayOfMonth::parse(field) {
        return extension.words();
    }
    if let Some(step) = field.strip_prefix("*/") {
        return format!("on every {} day of the month", ordinal(step));
    }
    format!(
        "on day {} of the month",
        field_words(field, &|v| v.to_string())
    )
}

fn days_of_week_words(field: &str) -> String {
    if let Some(Ok(extension)) = super::extensions::DayOfWeek::parse(field) {
        return extension.words();
    }
    if let Some(step) = field.strip_prefix("*/") {
        return format!("every {} day of the week from Sunday", ordinal(step));
    }
    field_words(field, &|v| name(v, &DAYS, 0))
}

fn months_words(field: &str) -> String {
    if let Some(step) = field.strip_prefix("*/") {
        return format!("every {} month from January", ordinal(step));
    }
    format!("in {}", field_words(field, &|v| name(v, &MONTHS, 1)))
}

fn ordinal(step: &str) -> String {
    let suffix = match step.parse::<u32>() {
        Ok(n) if (11..=13).contains(&(n % 100)) => "th",
        Ok(n) if n % 10 == 1 => "st",
        Ok(n) if n % 10 == 2 => "nd",
        Ok(n) if n % 10 == 3 => "rd",
        _ => "th",
    };
    format!("{step}{suffix}")
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn is_number(field: &str) -> bool {
    !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit())
}

fn clock(hour: &str, minute: &str) -> String {
    let number = |text: &str| text.parse::<u32>().unwrap_or(0);
    format!("{:02}:{:02}", number(hour), number(minute))
}

fn time_words(minute: &str, hour: &str) -> String {
    let hours: Vec<&str> = hour.split(',').collect();
    if is_number(minute) && hours.iter().all(|h| is_number(h)) {
        let times: Vec<String> = hours.iter().map(|h| clock(h, minute)).collect();
        return format!("at {}", join_words(&times));
    }
    let minute_words = match minute {
        "*" | "*/1" => "every minute".to_string(),
        m if m.starts_with("*/") => format!("every {} minutes", &m[2..]),
        m if is_number(m) => format!("at minute {m}"),
        m => format!("at minutes {}", field_words(m, &|v| v.to_string())),
    };
    let hour_words = match hour {
        "*" => if is_number(minute) {
            " of every hour"
        } else {
            ""
        }
        .to_string(),
        h if h.starts_with("*/") => format!(" past every {} hour", ordinal(&h[2..])),
        h if is_number(h) => format!(" past hour {h}"),
        h => format!(" past hours {}", field_words(h, &|v| v.to_string())),
    };
    format!("{minute_words}{hour_words}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_expressions_read_as_people_say_them() {
        for (expr, words) in [
            ("* * * * *", "every minute"),
            ("*/5 * * * *", "every 5 minutes"),
            ("0 * * * *", "at minute 0 of every hour"),
            ("30 8 * * 1-5", "at 08:30, Monday to Friday"),
            ("0 9,15 * * MON-FRI", "at 09:00 and 15:00, Monday to Friday"),
            (
                "*/10 9-15 * * 1-5",
                "every 10 minutes past hours 9 to 15, Monday to Friday",
            ),
            ("0 8 1 * *", "at 08:00, on day 1 of the month"),
            (
                "0 8 1,15 * 1",
                "at 08:00, on day 1 and 15 of the month or Monday",
            ),
            (
                "0 8 */2 * 1",
                "at 08:00, on every 2nd day of the month and Monday",
            ),
            (
                "0 0 1 1,7 *",
                "at 00:00, on day 1 of the month, in January and July",
            ),
            ("0 18 * * 0,7", "at 18:00, Sunday"),
            ("15 */2 * * *", "at minute 15 past every 2nd hour"),
            ("*/1 * * * *", "every minute"),
            (
                "0 0 1 */3 *",
                "at 00:00, on day 1 of the month, every 3rd month from January",
            ),
            (
                "0 8 * * */2",
                "at 08:00, every 2nd day of the week from Sunday",
            ),
            (
                "0 8 1-10/2 * *",
                "at 08:00, on day every 2nd from 1 to 10 of the month",
            ),
            ("0 8 * * 1-5/2", "at 08:00, every 2nd from Monday to Friday"),
            ("0 9 L * *", "at 09:00, on the last day of the month"),
            ("0 9 LW * *", "at 09:00, on the last weekday of the month"),
            ("0 9 15W * *", "at 09:00, on the weekday nearest day 15 of the month"),
            ("0 9 * * 4#2", "at 09:00, on the second Thursday of the month"),
            ("0 9 * * FRIL", "at 09:00, on the last Friday of the month"),
            (
                "30 15 * 3,6,9,12 4#2",
                "at 15:30, on the second Thursday of the month, in March, June, September and December",
            ),
        ] {
            assert_eq!(describe_cron(expr), words, "{expr}");
        }
    }

    #[test]
    fn intervals_use_the_largest_whole_unit() {
        assert_eq!(describe_interval(1), "every second");
        assert_eq!(describe_interval(5), "every 5 seconds");
        assert_eq!(describe_interval(300), "every 5 minutes");
        assert_eq!(describe_interval(3_600), "every hour");
        assert_eq!(describe_interval(90), "every 90 seconds");
        assert_eq!(describe_interval(172_800), "every 2 days");
    }
}
