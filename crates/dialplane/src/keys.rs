//! `dialplane keys`: API keys created, listed and revoked straight on the database.

use crate::cli::{CreateKeyArgs, KeysCommand, ScopeArg};
use crate::database::open_existing;
use anyhow::bail;
use dialplane_core::{ApiKey, CreatedBy, KeyId, Scope};
use dialplane_store::{CreateKey, KeyRecord, NewKey, RevokeKey, Store};

/// Creates a key; the plain key exists only in the returned value.
pub async fn create_key(
    store: &Store,
    workspace: &str,
    scope: Scope,
    user: CreatedBy,
    expires_in: Option<std::time::Duration>,
) -> anyhow::Result<(ApiKey, KeyRecord)> {
    let key = ApiKey::generate();
    let expires_at = match expires_in {
        None => None,
        Some(d) => {
            let d = chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                .ok_or_else(|| anyhow::anyhow!("--expires-in is too far in the future"))?;
            Some(dialplane_core::agent::timestamp(d))
        }
    };
    let record = store
        .write(CreateKey(NewKey {
            hash: key.hash(),
            workspace: workspace.to_owned(),
            scope,
            user,
            expires_at,
        }))
        .await?;
    Ok((key, record))
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create(args) => create(args).await,
        KeysCommand::List { database, json } => {
            let store = open_existing(&database).await?;
            let keys = store.list_keys().await;
            store.close().await;
            // A reader that stops early (`| head`) is not an error: stop writing.
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for k in keys? {
                let now = dialplane_core::agent::timestamp(chrono::Utc::now());
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.as_ref().is_some_and(|e| *e <= now) {
                    "expired"
                } else {
                    "active"
                };
                let written = if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({
                            "keyId": k.key_id, "workspace": k.workspace, "scope": k.scope.as_str(),
                            "userId": k.user.user_id, "userEmail": k.user.user_email,
                            "createdAt": k.created_at, "revokedAt": k.revoked_at,
                            "expiresAt": k.expires_at, "status": status,
                        })
                    )
                } else {
                    // Escaped: labels stored before they were checked may hold control characters.
                    writeln!(
                        out,
                        "{}  {:<7}  {:<5}  {}  {} <{}>  created {}",
                        k.key_id,
                        status,
                        k.scope.as_str(),
                        k.workspace.escape_debug(),
                        k.user.user_id.escape_debug(),
                        k.user.user_email.escape_debug(),
                        k.created_at
                    )
                };
                if written.is_err() {
                    break;
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { database, key_id } => {
            let id: KeyId = key_id.parse().map_err(|_| {
                anyhow::anyhow!("{key_id:?} is not a key id (see `dialplane keys list`)")
            })?;
            let store = open_existing(&database).await?;
            let revoked = store.write(RevokeKey(id)).await;
            store.close().await;
            if !revoked? {
                bail!("no active key with id {id}");
            }
            println!("revoked {id}");
            Ok(())
        }
    }
}

async fn create(args: CreateKeyArgs) -> anyhow::Result<()> {
    use dialplane_core::validate::{check_email, check_label};
    for (name, value, check) in [
        (
            "--workspace",
            &args.workspace,
            check_label as fn(&str) -> Result<(), String>,
        ),
        ("--user-id", &args.user_id, check_label),
        ("--user-email", &args.user_email, check_email),
    ] {
        if let Err(why) = check(value) {
            bail!("{name} {why}");
        }
    }
    let scope = match args.scope {
        ScopeArg::Read => Scope::Read,
        ScopeArg::Write => Scope::Write,
        ScopeArg::Runtime => Scope::Runtime,
    };
    let store = open_existing(&args.database).await?;
    let user = CreatedBy {
        user_id: args.user_id.clone(),
        user_email: args.user_email.clone(),
    };
    let created = create_key(&store, &args.workspace, scope, user, args.expires_in).await;
    store.close().await;
    let (key, record) = created?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "key": key.expose(), "keyId": record.key_id,
                "workspace": record.workspace, "scope": record.scope.as_str(),
                "expiresAt": record.expires_at,
            })
        );
    } else {
        println!("{}", key.expose());
        eprintln!(
            "created {} key {} for {} in workspace {:?}; it is shown only once",
            scope.as_str(),
            record.key_id,
            args.user_id,
            record.workspace
        );
    }
    Ok(())
}
