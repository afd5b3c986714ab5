#!/usr/bin/env bash
# Fly.io has no cron in fly.toml: scheduled backup jobs are Machines created with --schedule,
# which Fly starts on that schedule and which exit when the job ends (docs/backups.md).
# Run from the repository root after the first `fly deploy`; BACKUP_* and AWS_* are secrets
# (`fly secrets set`), which these Machines receive like the app's.
# Usage: deploy/fly-backup-schedules.sh [app-name]
set -euo pipefail
app="${1:-trackr}"
image="$(fly image show --app "$app" --json | python3 -c 'import json, sys; i = json.load(sys.stdin); i = i[0] if isinstance(i, list) else i; print(f"{i[\"Registry\"]}/{i[\"Repository\"]}@{i[\"Digest\"]}")')"

# Nightly dump (and retention), then a weekly restore drill. Each takes the backup lock in the
# database, retries with backoff, and exits non-zero on failure (Fly records the exit).
fly machine run "$image" --app "$app" --schedule daily --restart no \
  --name trackr-backup --region "${FLY_REGION:-fra}" --vm-size shared-cpu-1x \
  --env BACKUP_METHOD=dump \
  -- trackr backup create --method dump --retries 3 --retry-wait 30
fly machine run "$image" --app "$app" --schedule weekly --restart no \
  --name trackr-backup-verify --region "${FLY_REGION:-fra}" --vm-size shared-cpu-1x \
  --env BACKUP_METHOD=dump \
  -- trackr backup verify --method dump --retries 2 --retry-wait 60
