#!/bin/bash
# tests/check-include-rules.sh - the include rules of the rooms (docs/architecture.md, README.md's
# layout): calls and includes go downwards only. Fails, naming file, line and rule, when
#   server/             includes a VTK header (vtk*.h) or a private header of bridge/
#   bridge/             includes civetweb.h or a header of server/
#   bridge/transport/   includes a VTK header
#   base/               includes anything but the public streambridge/*.h, its own headers and
#                       system headers
#   capi/include/streambridge/*.h   include anything but streambridge/*.h and standard C headers
# A room's private headers are the header files present in its folder (found, not listed here),
# so a header added tomorrow is covered at once. capi/src may include everything.
#
# Usage: tests/check-include-rules.sh [ROOT]     check the tree at ROOT (default: this repository)
#        tests/check-include-rules.sh --self-check
#   --self-check copies the rooms of this repository into a temporary tree, requires the copy to
#   pass, then plants one bad include per rule (and one in a freshly added private header) and
#   requires each to be caught, so the check cannot silently pass on everything.
# Registered as the ctests check_include_rules and check_include_rules_self_check (label lint).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Headers of libraries the rooms may not reach by the rules above; anything else in <...> that is
# not a header of this tree counts as a system header.
third_party_re='^(vtk[^/]*\.h|civetweb\.h|turbojpeg\.h|jpeglib\.h|CUnit/.*|X11/.*|GL/.*|EGL/.*)$'
vtk_re='^(.*/)?vtk[^/]*\.h$'
# The standard C library headers (C17 7.1.2): all a public header may include besides its own.
std_c_headers=" assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h"
std_c_headers+=" locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h"
std_c_headers+=" stddef.h stdint.h stdio.h stdlib.h stdnoreturn.h string.h tgmath.h threads.h"
std_c_headers+=" time.h uchar.h wchar.h wctype.h "

source_files() { # dir: the C and C++ sources and headers under dir
  [[ -d "$1" ]] || return 0
  find "$1" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cxx' -o -name '*.cpp' \
    -o -name '*.hpp' -o -name '*.cc' \) | sort
}

header_names() { # dir: " a.h b.h ... " - the basenames of the header files under dir
  local names=" "
  [[ -d "$1" ]] && names+="$(find "$1" -type f \( -name '*.h' -o -name '*.hpp' \) -printf '%f ')"
  echo "$names"
}

includes() { # files...: "FILE<TAB>LINE<TAB>KIND<TAB>NAME" per #include; KIND: q ("...") or a (<...>)
  (($#)) || return 0
  local hit re='^([^:]+):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^>"]+)[>"]'
  while IFS= read -r hit; do
    [[ "$hit" =~ $re ]] || continue
    local kind=a
    [[ "${BASH_REMATCH[3]}" == '"' ]] && kind=q
    printf '%s\t%s\t%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$kind" "${BASH_REMATCH[4]}"
  done < <(grep -nHE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^>"]+[>"]' "$@")
}

room_includes() { # dir: includes() of every source file under dir
  local files=()
  mapfile -t files < <(source_files "$1")
  includes "${files[@]}"
}

# check ROOT: prints one line per broken rule, returns the number of them (capped at 255).
check() {
  local root="$1" failures=0
  local bridge_headers server_headers base_headers public_headers
  bridge_headers="$(header_names "$root/bridge")"
  server_headers="$(header_names "$root/server")"
  base_headers="$(header_names "$root/base")"
  public_headers="$(header_names "$root/capi/include/streambridge")"
  local tree_headers
  tree_headers="$(header_names "$root/base")$(header_names "$root/bridge")$(header_names "$root/server")$(header_names "$root/capi")"

  report() { # file line text rule
    echo "${1#"$root"/}:$2: #include $3 - $4"
    failures=$((failures + 1))
  }
  own() { # file name: the quoted include names a file next to the including file
    [[ -f "${1%/*}/$2" ]]
  }
  is_public() { # name: streambridge/X.h with X a public header
    [[ "$1" == streambridge/* && "$public_headers" == *" ${1#streambridge/} "* ]]
  }

  local f line kind name shown base
  # server/: no VTK, no private header of bridge/.
  while IFS=$'\t' read -r f line kind name; do
      [[ "$kind" == q ]] && shown="\"$name\"" || shown="<$name>"
      base="${name##*/}"
      if [[ "$name" =~ $vtk_re ]]; then
        report "$f" "$line" "$shown" "server/ never includes VTK (it uses the public API only)"
      elif [[ "$name" =~ (^|/)bridge/ ]] ||
           { [[ "$kind" == q ]] && ! own "$f" "$name" && [[ "$bridge_headers" == *" $base "* ]]; }; then
        report "$f" "$line" "$shown" "server/ never includes a private header of bridge/ (public API only)"
      fi
  done < <(room_includes "$root/server")

  # bridge/: no civetweb, no header of server/; bridge/transport/ also no VTK.
  while IFS=$'\t' read -r f line kind name; do
      [[ "$kind" == q ]] && shown="\"$name\"" || shown="<$name>"
      base="${name##*/}"
      if [[ "$base" == civetweb.h ]]; then
        report "$f" "$line" "$shown" "bridge/ never includes civetweb (the server's business)"
      elif [[ "$name" =~ (^|/)server/ ]] ||
           { [[ "$kind" == q ]] && ! own "$f" "$name" && [[ "$server_headers" == *" $base "* ]]; }; then
        report "$f" "$line" "$shown" "bridge/ never includes a header of server/"
      elif [[ "$f" == "$root/bridge/transport/"* && "$name" =~ $vtk_re ]]; then
        report "$f" "$line" "$shown" "bridge/transport/ never includes VTK (only bridge/vtk/ does)"
      fi
  done < <(room_includes "$root/bridge")

  # base/: public headers, its own headers, system headers.
  while IFS=$'\t' read -r f line kind name; do
      [[ "$kind" == q ]] && shown="\"$name\"" || shown="<$name>"
      base="${name##*/}"
      is_public "$name" && continue
      if [[ "$kind" == q ]]; then
        own "$f" "$name" && [[ "$base_headers" == *" $base "* ]] && continue
        report "$f" "$line" "$shown" "base/ includes only streambridge/*.h, its own headers and system headers"
      elif [[ "$name" =~ $third_party_re || "$tree_headers" == *" $base "* ]]; then
        report "$f" "$line" "$shown" "base/ includes only streambridge/*.h, its own headers and system headers"
      fi
  done < <(room_includes "$root/base")

  # capi/include/streambridge/*.h: streambridge/*.h and standard C headers only.
  while IFS=$'\t' read -r f line kind name; do
      [[ "$kind" == q ]] && shown="\"$name\"" || shown="<$name>"
      is_public "$name" && continue
      [[ "$kind" == a && "$std_c_headers" == *" $name "* ]] && continue
      report "$f" "$line" "$shown" "a public header includes only streambridge/*.h and standard C headers"
  done < <(room_includes "$root/capi/include/streambridge")

  return $((failures > 255 ? 255 : failures))
}

self_check() {
  local repo problems=0
  repo="$(cd "$here/.." && pwd)"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/sb-include-rules.XXXXXX")" || exit 2
  trap 'rm -rf "$tmp"' EXIT
  local d
  for d in base bridge server capi; do
    (cd "$repo" && source_files "$d" | xargs -r cp --parents -t "$tmp")
  done

  local out
  if ! out="$(check "$tmp")"; then
    echo "self-check: the unchanged copy of the tree already fails:"
    echo "$out"
    return 1
  fi

  # expect_caught FILE TEXT [EXTRA_FILE EXTRA_TEXT]: plant, check, require FILE to be reported.
  expect_caught() {
    mkdir -p "$tmp/$(dirname "$1")"
    printf '%s\n' "$2" >"$tmp/$1"
    if [[ $# -ge 4 ]]; then
      printf '%s\n' "$4" >"$tmp/$3"
    fi
    out="$(check "$tmp")"
    local rc=$?
    if ((rc == 0)) || [[ "$out" != *"$1:1: "* ]]; then
      echo "self-check: NOT caught: $1: $2"
      problems=$((problems + 1))
    else
      echo "self-check: caught: ${out%%$'\n'*}"
    fi
    rm -f "$tmp/$1"
    [[ $# -ge 4 ]] && rm -f "$tmp/$3"
  }
  expect_caught server/planted_vtk.c '#include <vtkObject.h>'
  expect_caught server/planted_bridge_private.c '#include "shm_segment.h"'
  expect_caught server/planted_bridge_path.c '#include "../bridge/transport/futex.h"'
  # A private header that did not exist when this script was written: found, not listed.
  expect_caught server/planted_new_private.c '#include "planted_fresh_private.h"' \
    bridge/transport/planted_fresh_private.h '/* a new private header of bridge/transport */'
  expect_caught bridge/vtk/planted_civetweb.cxx '#include <civetweb.h>'
  expect_caught bridge/transport/planted_server.c '#include "wire.h"'
  expect_caught bridge/transport/planted_vtk.c '#include <vtkNew.h>'
  expect_caught base/planted_bridge.c '#include "shm_segment.h"'
  expect_caught base/planted_third_party.c '#include <turbojpeg.h>'
  expect_caught capi/include/streambridge/planted_posix.h '#include <pthread.h>'
  expect_caught capi/include/streambridge/planted_private.h '#include "sb_clock.h"'

  # And what the rules allow stays allowed.
  printf '%s\n' '#include "streambridge/server.h"' '#include <stdio.h>' '#include "wire.h"' \
    >"$tmp/server/planted_allowed.c"
  printf '%s\n' '#include "streambridge/common.h"' '#include <stdint.h>' \
    >"$tmp/capi/include/streambridge/planted_allowed.h"
  if ! out="$(check "$tmp")"; then
    echo "self-check: allowed includes reported as broken:"
    echo "$out"
    problems=$((problems + 1))
  fi

  if ((problems)); then
    echo "check-include-rules self-check: $problems problem(s)"
    return 1
  fi
  echo "check-include-rules self-check: ok (every planted bad include caught, allowed ones pass)"
}

if [[ "${1:-}" == --self-check ]]; then
  self_check
  exit
fi
root="$(cd "${1:-$here/..}" && pwd)" || exit 2
out="$(check "$root")"
n=$?
if ((n)); then
  echo "$out"
  echo "check-include-rules: $n broken include rule(s) (see the rules at the top of tests/check-include-rules.sh)"
  exit 1
fi
echo "check-include-rules: ok ($root)"
