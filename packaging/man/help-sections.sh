#!/bin/sh
# What help2man reads from an edgetrain program (packaging/CMakeLists.txt makes the man pages with
# it at build time): for --version the program's version line; for --help the program's --help,
# then every subcommand's --help under a line "*NAME SUBCOMMAND*", which help2man turns into a
# section of its own (EDGETRAIN-AGENT RUN, ...), so that the page documents every option.
#
# Usage: help-sections.sh --help|--version NAME COMMAND...
#   COMMAND... runs the program (with the cross-compiling emulator in front for an ARM build).
set -eu
what=$1
name=$2
shift 2
case "$what" in
  --version) exec "$@" --version ;;
  --help) ;;
  *) echo "help-sections.sh: expected --help or --version, got '$what'" >&2; exit 2 ;;
esac
"$@" --help
# CLI11 lists the subcommands under "Subcommands:", one per line: "  NAME   description".
for sub in $("$@" --help | sed -n '/^Subcommands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
  printf '\n*%s %s*\n' "$name" "$sub"
  # A blank line after the description keeps the usage line a paragraph of its own; "Options:"
  # would take help2man back to the OPTIONS section.
  "$@" "$sub" --help | sed -e '1G' -e 's/^Options:$/General options:/'
done
