#!/usr/bin/env bash
# Makes sure the end-to-end tests have a browser: Debian's chromium plus fonts for Thai, Bengali and Urdu.
# Idempotent. Never fails the test run: when it cannot install, it says why and the e2e tests skip
# (or fail under CI=true, where they must run).
set -u

CHROMIUM=/usr/bin/chromium
PACKAGES=(chromium fontconfig fonts-noto-core)  # fontconfig: fc-list, to check the fonts

has_fonts() {
    command -v fc-list >/dev/null 2>&1 || return 1
    local fonts
    fonts=$(fc-list : family)
    for family in "Noto Sans Thai" "Noto Sans Bengali" "Noto Nastaliq Urdu"; do
        grep -q "$family" <<<"$fonts" || return 1
    done
}

if [[ -x $CHROMIUM ]] && has_fonts; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: chromium or the Noto fonts are missing and this is not root with apt-get;" \
         "install ${PACKAGES[*]} to run the e2e tests (they skip meanwhile)" >&2
    exit 0
fi
echo "ensure_browser: installing ${PACKAGES[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; }; then
    echo "ensure_browser: apt-get failed; the e2e tests will skip (or fail under CI=true)" >&2
fi
exit 0
