#!/usr/bin/env bash
# Installs the system packages the tests, benches and `make run` need (Debian 12), if missing:
#   postgresql             server binaries for deploy/local/local_postgres.py
#   openjdk-17-jre-headless Java 17+ runtime
#   maven                  Java build tool
#   chromium               the real browser of the browser tests (driven by Playwright)
#   fonts-noto-cjk         Chinese glyphs for pages and documents
#   poppler-utils          pdftotext / pdftoppm, to read rendered documents in tests
#   libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0   what WeasyPrint prints PDF with
# With --bench (make bench), also:
#   postfix                for smtp-sink, the benches' SMTP server (C); installed with no mail
#                          system configured, so no mail daemon is set up or started
# Idempotent and quick when all is present (no apt-get update then). As root it installs what is
# missing; otherwise it names what is missing and exits 1. PG_BIN may point at other binaries.
set -euo pipefail

log() { echo "install-system-deps: $*" >&2; }

have_postgres() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/postgres" && -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]]
    return
  fi
  # Debian keeps the server off PATH, one directory per major version.
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/postgres" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && return 0
  done
  return 1
}

have_java17() {
  command -v java >/dev/null 2>&1 || return 1
  local version major
  # First line looks like: openjdk version "17.0.15" 2025-04-15  (or "1.8.0_..." for Java 8)
  version=$(java -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')
  major=${version%%.*}
  [[ "$major" == 1 ]] && major=$(echo "$version" | cut -d. -f2)
  [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 17))
}

have_maven() { command -v mvn >/dev/null 2>&1; }

have_chromium() { command -v chromium >/dev/null 2>&1; }

have_cjk_fonts() { [[ -d /usr/share/fonts/opentype/noto ]] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1; }

have_lib() { ldconfig -p | grep -q "$1"; }

have_poppler() { command -v pdftotext >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; }

have_smtp_sink() { command -v smtp-sink >/dev/null 2>&1 || [[ -x /usr/sbin/smtp-sink ]]; }

bench=false
[[ "${1:-}" == "--bench" ]] && bench=true

missing=()
have_postgres || missing+=(postgresql)
have_java17 || missing+=(openjdk-17-jre-headless)
have_maven || missing+=(maven)
have_chromium || missing+=(chromium)
have_cjk_fonts || missing+=(fonts-noto-cjk)
have_poppler || missing+=(poppler-utils)
have_lib libpango-1.0.so.0 || missing+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || missing+=(libpangoft2-1.0-0)
have_lib libharfbuzz-subset.so.0 || missing+=(libharfbuzz-subset0)
$bench && { have_smtp_sink || missing+=(postfix); }

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "missing system packages: ${missing[*]}"
  log "install them as root: apt-get update && apt-get install -y ${missing[*]}"
  exit 1
fi

if [[ " ${missing[*]} " == *" postgresql "* ]]; then
  # We only want the binaries: local_postgres.py makes its own throw-away clusters, so stop the
  # package from creating (and, where services may start, running) a system cluster on 5432.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/tenure-no-main.conf
fi

if [[ " ${missing[*]} " == *" postfix "* ]]; then
  # Only smtp-sink is wanted: "No configuration" leaves postfix without a main.cf, so the
  # package neither configures a mail system nor starts one.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi

log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

still=()
have_postgres || still+=(postgresql)
have_java17 || still+=(openjdk-17-jre-headless)
have_maven || still+=(maven)
have_chromium || still+=(chromium)
have_cjk_fonts || still+=(fonts-noto-cjk)
have_poppler || still+=(poppler-utils)
have_lib libpango-1.0.so.0 || still+=(libpango-1.0-0)
have_lib libpangoft2-1.0.so.0 || still+=(libpangoft2-1.0-0)
have_lib libharfbuzz-subset.so.0 || still+=(libharfbuzz-subset0)
$bench && { have_smtp_sink || still+=(postfix); }
if ((${#still[@]} > 0)); then
  log "still missing after apt-get install: ${still[*]}"
  exit 1
fi
log "done"
