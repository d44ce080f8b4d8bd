use std::process::ExitCode;

use clap::Parser;
use jennie_scheduler::cli::{self, Cli, Command, RemoteCommand};
use jennie_scheduler::configuration::Settings;
use jennie_scheduler::startup::Application;
use jennie_scheduler::telemetry;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate { args } => migrate(&args).await,
        Command::Job { remote, verb } => {
            print(cli::remote_command(&remote, RemoteCommand::Job(&verb)).await)
        }
        Command::Calendar { remote, verb } => {
            print(cli::remote_command(&remote, RemoteCommand::Calendar(&verb)).await)
        }
        Command::Jobs { remote, verb } => {
            print(cli::remote_command(&remote, RemoteCommand::Jobs(&verb)).await)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(settings.log_format);
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await?;
    Ok(())
}

async fn migrate(args: &[String]) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(settings.log_format);
    cli::migrate(&settings, args).await
}

fn print(answer: anyhow::Result<String>) -> anyhow::Result<()> {
    println!("{}", answer?);
    Ok(())
}
