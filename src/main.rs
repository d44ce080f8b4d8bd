use jennie_scheduler::cli;
use jennie_scheduler::configuration::Settings;
use jennie_scheduler::startup::Application;
use jennie_scheduler::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{}", cli::USAGE);
        return Ok(());
    }
    let settings = Settings::load()?;
    telemetry::init(settings.log_format);
    match args.first().map(String::as_str) {
        None | Some("serve") => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?
        }
        Some("migrate") => cli::migrate(&settings, &args[1..]).await?,
        Some(other) => anyhow::bail!("unknown command '{other}'\n{}", cli::USAGE),
    }
    Ok(())
}
