#!/usr/bin/env bash
# The project's test command (README.md). For every Go module in the
# repository (the library at the root, bench/, and any added later): gofmt,
# `go mod tidy -diff` (must be empty), go vet, and the race-enabled test
# suite. Set EXLEDGER_LONG=1 for the long reliability tiers; pass module
# directories (e.g. `scripts/test.sh .`) to run only those.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

if [ "$#" -gt 0 ]; then
	modules=("$@")
else
	mapfile -t modules < <( (git ls-files '*go.mod' 2>/dev/null || find . -name go.mod -not -path './.git/*') | xargs -n1 dirname | sort -u)
fi

for m in "${modules[@]}"; do
	echo "=== module ${m}"
	(
		cd "$m"
		if ! go mod tidy -diff; then
			echo "module ${m}: go.mod/go.sum not tidy; run 'go mod tidy' in ${m}" >&2
			exit 1
		fi
		go vet ./...
		go test -race -count=1 -timeout 60m ./...
	)
done
