#!/bin/bash
# tests/check-no-timing-asserts.sh - the grep behind the rule in tests/README.md: no test asserts
# on machine speed. Fails on
#   (a) a sleep (C, C++, JS, Python, shell) that is not on the allow-list below, and
#   (b) an assertion that involves a clock (elapsed time, fps, "took", a max gap), unless it
#       compares with a *_DEADLINE* constant (a generous deadline) or is on the allow-list.
# Tests wait for conditions instead: ST_WAIT_UNTIL / st_wait_until and ST_DEADLINE_MS (C,
# tests/support/sb_test_wait.h), waitUntil / waitUnchanged (JS, tests/common/wait.mjs),
# wait_until / wait_for_status (Python, tests/common/sb_harness.py). How fast something is
# belongs to bench/, never to ctest.
# Registered as the ctest test check_no_timing_asserts (label lint). Usage: tests/check-no-timing-asserts.sh
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# ---- allow-list: "file|fixed text on the matching line|why it is not a timing assertion" -----
# A sleep is legitimate only as (1) the poll interval inside a wait helper, (2) pacing input or a
# producer like a person or an application would, (3) giving another thread the chance to block
# first where the test passes either way, or (4) the grace period before asserting that
# something did NOT happen (after waiting for every condition that must come first), or (5) a
# stand-in that must be asynchronous like the API it replaces.
allow=(
  # (1) poll intervals of wait helpers
  "tests/support/sb_test_wait.h|void st_sleep_ms(long ms);|the helper's declaration"
  "tests/support/sb_test_wait.c|void st_sleep_ms(long ms)|the helper's definition"
  "tests/support/sb_test_wait.c|nanosleep(&ts, NULL);|st_sleep_ms's body"
  "tests/support/sb_test_wait.h|st_sleep_ms(ST_POLL_MS)|poll interval of ST_WAIT_UNTIL"
  "tests/support/sb_test_http.c|st_sleep_ms(ST_POLL_MS)|poll interval of st_ws_wait_frames, st_ws_wait_closed"
  "tests/support/sb_test_transport.c|st_sleep_ms(ST_POLL_MS)|poll interval of tt_queue_take_lock (until ST_DEADLINE_MS)"
  "tests/server/test_server.c|st_sleep_ms(ST_POLL_MS)|poll interval of wait_encoded()"
  "tests/common/wait.mjs|setTimeout(resolve, ms)|pace(), the JS tests' only sleep"
  "tests/common/wait.mjs|await pace(pollMs)|poll interval of waitUntil/waitUnchanged"
  "tests/browser/browser.mjs|page.waitForTimeout(150)|poll interval of waitSettled()"
  "tests/scenes/serve_test.mjs|setTimeout(() => controller.abort(), timeoutMs)|deadline of readMjpegParts()"
  "tests/scenes/wire_client.mjs|setTimeout(resolve, left)|deadline of WireClient.waitFrame()"
  "tests/scenes/demo_process.mjs|const timer = setTimeout(() => {|deadline of startDemo()"
  "tests/scenes/demo_process.mjs|setTimeout(() => demo.proc.kill('SIGKILL'), graceMs)|SIGKILL after stopDemo()'s grace"
  "tests/browser/janus_process.mjs|const timer = setTimeout(() => {|deadline of spawnUntil()"
  "tests/browser/janus_process.mjs|setTimeout(() => p.proc.kill('SIGKILL'), graceMs)|SIGKILL after stopProcess()'s grace"
  "tests/scenes/test_network_layout.cxx|/* poll interval */|poll interval of a deadline loop"
  "tests/vtk/test_vtk_replay.cxx|// poll interval|poll interval of the drag producer's wait_for()"
  "tests/common/sb_harness.py|time.sleep(poll_s)  # poll interval|poll interval of wait_until() (until DEADLINE_S)"
  "tests/common/sb_harness.py|time.sleep(0.1)  # poll interval|poll interval of wait_for_status() (until DEADLINE_S)"
  "tests/python/conftest.py|time.sleep(interval_s)  # poll interval of wait_for()|poll interval of wait_for()"
  "tests/python/conftest.py|await asyncio.sleep(interval_s)  # poll interval of wait_for_async()|poll interval of wait_for_async()"
  "tests/browser/nginx.mjs|setTimeout(() => proc.kill('SIGKILL'), DEADLINE_MS / 2)|SIGKILL after nginx's graceful stop"
  "tests/browser/notebook.test.mjs|setTimeout(() => proc.kill('SIGKILL'), DEADLINE_MS / 2)|SIGKILL after the notebook server's grace"
  "tests/unit/test_shm_corruption.c|st_sleep_ms(20); /* poll interval */|poll interval of wait_exit() (waitpid until a 60 s deadline)"
  "tests/xvfb-run.sh|sleep 0.05|poll interval while Xvfb starts (60 s deadline)"
  "tests/vtk/vtk_test_scene.h|usleep(20000);|retry interval of XOpenDisplay()"
  # (2) pacing like a person / an application
  "tests/plugin/windows_app.cxx|// the script's own pace|a batch script rendering now and then, until the watcher says quit"
  "tests/scenes/wire_client.mjs|await pace(25);|WireClient.drag(): paced like a person's, over several ticks"
  "tests/browser/notebook.test.mjs|await pace(30); // a person's drag|a drag paced like a person's, over several ticks"
  "tests/browser/proxy.test.mjs|await pace(30); // a person's drag|a drag paced like a person's, over several ticks"
  "tests/server/test_http_hostile.c|st_sleep_ms(1000); /* one header byte a second|the slowloris attacker: one header byte a second per connection"
  "tests/unit/test_shm_corruption.c|st_sleep_ms(1); /* pace: the vandal|the vandal scribbles in rounds, leaving the CPU to the server between them"
  "tests/unit/test_shm_truncation.c|st_sleep_ms(5); /* pace: a frame every few ms|the producer process publishes like an application until the truncation stops it"
  "tests/support/sb_test_server.c|st_sleep_ms(p->interval_ms);|st_producer's frame interval (also bench/)"
  "tests/unit/test_event_queue_concurrency.c|nanosleep(&ts, NULL);|producers push in bursts, like a client"
  "tests/unit/test_event_queue_concurrency.c|st_sleep_ms(1);|a consumer now and then slower than the producers"
  "tests/unit/test_frame_ring_concurrency.c|st_sleep_ms(1);|a reader that now and then holds a frame longer"
  # (3) let another thread block first; the test passes either way
  "tests/unit/test_event_queue.c|st_sleep_ms(50);|push_later: the waiter is (likely) asleep when woken"
  "tests/unit/test_frame_ring.c|st_sleep_ms(d->delay_ms);|delayed_publisher: the reader is (likely) asleep"
  "tests/unit/test_frame_ring.c|st_sleep_ms(50);|destroy_later: the reader is (likely) asleep"
  "tests/unit/test_frame_ring_concurrency.c|st_sleep_ms(20);|readers may catch the last frame; their checks hold either way"
  "tests/vtk/test_vtk_replay.cxx|std::this_thread::sleep_for(std::chrono::milliseconds(50));|the pump is (likely) waiting when the event comes"
  "tests/server/test_server.c|lets the server start waiting for a producer|the server is (likely) waiting; it attaches either way"
  # (4) grace before asserting that something did NOT happen
  "tests/server/test_server.c|/* grace|no further frame: waited for every frame that must come first"
  "tests/plugin/check_autoload.py|# grace:|nothing listens: repeated probes"
  "tests/server/test_ws_hostile.c|st_sleep_ms(2000); /* grace:|still-scene viewers are not closed: both got their frame first; a slow machine can only miss a bug"
  # (5) stand-ins that must behave asynchronously like what they replace
  "tests/browser/client_video.test.mjs|setTimeout(() => {|the failing VideoDecoder stub reports its error asynchronously, as WebCodecs does (0 ms)"
  "tests/browser/video_protocol.test.mjs|output: (frame) => setTimeout(() => init.output(frame), 400)|holds the decoder's output back to reorder it; a slow machine can only make the test prove less"
  # clock in an assertion, not a speed assertion
  "tests/unit/test_event_queue.c|st_now_ms() - t0 >= 45|a 50 ms timeout does not return early (load only lengthens it)"
  "tests/unit/test_frame_ring.c|st_now_ms() - t0 >= 45|a 50 ms timeout does not return early (load only lengthens it)"
  "tests/server/test_server.c|seconds * 20.0|the event bucket's bound grows with the measured time"
)

sleep_re='(\b(u|nano)?sleep\(|sleep_for\(|sleep_ms\(|waitForTimeout\(|setTimeout\(|\bpace\(|time\.sleep\(|^[[:space:]]*sleep [0-9])'
assert_re='(CU_ASSERT|assert|Check\(|raise Failure|\.fail\()'
clock_re='(_ms[[:space:]]*[<>]|now_ms\(|monotonic|steady_clock|Date\.now|elapsed|\btook\b|\bfps\b|max_gap|gap_ms|frames in|per_second|\bseconds\b)'

files=$(find tests -type d -name node_modules -prune -o -type f \
          \( -name '*.c' -o -name '*.h' -o -name '*.cxx' -o -name '*.mjs' -o -name '*.py' \
             -o -name '*.sh' -o -name '*.cmake' \) -print | grep -v '^tests/check-no-timing-asserts.sh$' | sort)

allowed() { # file text
  local entry
  for entry in "${allow[@]}"; do
    local f="${entry%%|*}" rest="${entry#*|}"
    local text="${rest%%|*}"
    [[ "$1" == "$f" && "$2" == *"$text"* ]] && return 0
  done
  return 1
}

failures=0
while IFS= read -r hit; do
  [[ -z "$hit" ]] && continue
  file="${hit%%:*}" rest="${hit#*:}"
  line="${rest%%:*}" text="${rest#*:}"
  allowed "$file" "$text" && continue
  echo "$file:$line: sleep outside a wait helper (wait for a condition; see tests/README.md):"
  echo "    ${text#"${text%%[![:space:]]*}"}"
  failures=$((failures + 1))
done < <(grep -nHE "$sleep_re" $files)

while IFS= read -r hit; do
  [[ -z "$hit" ]] && continue
  file="${hit%%:*}" rest="${hit#*:}"
  line="${rest%%:*}" text="${rest#*:}"
  [[ "$text" =~ $clock_re ]] || continue
  [[ "$text" == *DEADLINE* ]] && continue
  allowed "$file" "$text" && continue
  echo "$file:$line: assertion on a clock (a speed assertion belongs to bench/; see tests/README.md):"
  echo "    ${text#"${text%%[![:space:]]*}"}"
  failures=$((failures + 1))
done < <(grep -nHE "$assert_re" $files)

if ((failures)); then
  echo "check-no-timing-asserts: $failures forbidden timing pattern(s) in tests/"
  exit 1
fi
echo "check-no-timing-asserts: ok ($(wc -w <<<"$files") files)"
