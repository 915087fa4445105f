-- wrk script used by bench/run.py for every target: one fixed request, described by
-- environment variables that the harness sets for each wrk run.
--
--   BENCH_METHOD   GET, POST, ...                   (default GET)
--   BENCH_BODY     the request body, sent as is     (default none)
--   BENCH_HEADERS  "Name: value" lines, one a line  (e.g. Authorization: Basic ..., Bearer ...)
--
-- wrk loads this file once per thread; the request is built once and reused, so the script
-- costs nothing per request.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
end

local headers = os.getenv("BENCH_HEADERS") or ""
for line in string.gmatch(headers, "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.-)%s*$")
  if name ~= nil then
    wrk.headers[name] = value
  end
end
