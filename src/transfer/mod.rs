//! Moving messages in and out of a database: `dunder export` (JSON lines,
//! oldest first), `dunder import` (those lines back, exactly, in bounded
//! transactions) and `dunder archive` (export what is older than a date to
//! a file, then delete exactly that). They work on the database the
//! settings name, like `dunder migrate`, without a server.

mod archive;
mod export;
mod import;
pub mod line;
mod output;
pub mod progress;

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::cli::Command;
use crate::config::Settings;
use crate::domain::listing::MessageFilter;
use crate::domain::{parse_date, Hashtag, UserName};
use crate::store::TransferDb;
use progress::{summary, thousands, Progress};

/// Runs `command`, one of the transfer subcommands.
pub async fn run(settings: &Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Export {
            hashtag,
            user,
            from,
            before,
            to,
            force,
        } => {
            let filter = filter(
                hashtag.as_deref(),
                user.as_deref(),
                from.as_deref(),
                before.as_deref(),
            )?;
            export(settings, &filter, to.as_deref(), force).await
        }
        Command::Import {
            file,
            counted,
            batch,
        } => import(settings, file.as_deref(), !counted, batch).await,
        Command::Archive { before, to, force } => {
            let filter = filter(None, None, None, Some(&before))?;
            archive(settings, &filter, &to, force).await
        }
        other => anyhow::bail!("{other:?} is not an export, import or archive"),
    }
}

/// The filter of the command line's options, checked by the domain's
/// parsers; errors name the option.
fn filter(
    hashtag: Option<&str>,
    user: Option<&str>,
    from: Option<&str>,
    before: Option<&str>,
) -> anyhow::Result<MessageFilter> {
    let error = |e: crate::domain::DomainError| anyhow::anyhow!("{e}");
    let filter = MessageFilter {
        hashtag: hashtag
            .map(|t| Hashtag::parse("--hashtag", t))
            .transpose()
            .map_err(error)?,
        user: user
            .map(|u| UserName::parse("--user", u))
            .transpose()
            .map_err(error)?,
        from: from
            .map(|d| parse_date("--from", d))
            .transpose()
            .map_err(error)?,
        to: before
            .map(|d| parse_date("--before", d))
            .transpose()
            .map_err(error)?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to < from {
            anyhow::bail!("--before: must not be earlier than --from");
        }
    }
    Ok(filter)
}

async fn open(settings: &Settings) -> anyhow::Result<TransferDb> {
    TransferDb::open(
        &settings.database.url,
        settings.database.should_migrate,
        settings.database.debug,
    )
    .await
    .context("cannot open the database")
}

async fn export(
    settings: &Settings,
    filter: &MessageFilter,
    to: Option<&Path>,
    force: bool,
) -> anyhow::Result<()> {
    let db = open(settings).await?;
    let progress = Progress::new("exporting");
    let (count, target) = match to {
        Some(path) => {
            let mut output = output::Output::create(path, force)?;
            let count = export::write_lines(&db, filter, output.writer(), &progress).await?;
            output.finish()?;
            (count, path.display().to_string())
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let count = export::write_lines(&db, filter, &mut out, &progress).await?;
            out.flush().context("cannot write the export")?;
            (count, "standard output".to_owned())
        }
    };
    drop(progress);
    db.close().await.ok();
    summary(&format!(
        "exported {} messages to {target}",
        thousands(count)
    ));
    Ok(())
}

async fn import(
    settings: &Settings,
    file: Option<&Path>,
    count: bool,
    batch: u64,
) -> anyhow::Result<()> {
    let (mut input, source): (Box<dyn std::io::BufRead>, String) = match file {
        Some(path) if path != Path::new("-") => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (
                Box::new(std::io::BufReader::new(file)),
                path.display().to_string(),
            )
        }
        _ => (
            Box::new(std::io::stdin().lock()),
            "standard input".to_owned(),
        ),
    };
    let db = open(settings).await?;
    let progress = Progress::new("importing");
    let batch = usize::try_from(batch).unwrap_or(usize::MAX);
    let imported = import::read_lines(
        &db,
        &mut input,
        batch,
        settings.max_text_length,
        count,
        &progress,
    )
    .await?;
    drop(progress);
    db.close().await.ok();
    let outcome = imported.outcome;
    summary(&format!(
        "imported {} messages from {source} ({} already there)",
        thousands(outcome.inserted),
        thousands(outcome.skipped)
    ));
    Ok(())
}

async fn archive(
    settings: &Settings,
    filter: &MessageFilter,
    to: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let mut output = output::Output::create(to, force)?;
    let db = open(settings).await?;
    let progress = Progress::new("archiving");
    let exported = export::write_lines(&db, filter, output.writer(), &progress).await?;
    // On disk before anything is deleted.
    output.finish()?;
    progress.relabel("deleting", 0);
    let deleted = archive::delete_archived(&db, to, &progress).await?;
    drop(progress);
    db.close().await.ok();
    summary(&format!(
        "archived {} messages to {} ({} deleted)",
        thousands(exported),
        to.display(),
        thousands(deleted)
    ));
    Ok(())
}
