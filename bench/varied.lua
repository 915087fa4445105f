-- wrk script for targets whose request must differ each time (bench/run.py, `Target.varied`).
-- The method and headers come from the same variables as request.lua; the body (and path) are
-- templates in which "{}" is replaced per request by:
--
--   BENCH_LIST      a file with one value a line: each request takes the next one (each wrk
--                   thread its own share, no value used twice) or, with BENCH_PICK=random, a
--                   random one (values may repeat: lookups);
--   otherwise       a value unique to this run: BENCH_PREFIX .. thread .. "-" .. counter.
--
--   BENCH_METHOD, BENCH_HEADERS            as in request.lua
--   BENCH_BODY, BENCH_PATH                 templates ("{}" is replaced)
--   BENCH_LIST, BENCH_PICK, BENCH_PREFIX   see above
--   BENCH_OFFSET                           skip this many values of the list first (so that the
--                                          measured run does not reuse the warm-up's values)
--
-- Running out of values wraps around: the reused values then answer with errors, which the
-- harness reports, so a list must outlast the run.

local method = os.getenv("BENCH_METHOD") or "GET"
local body_template = os.getenv("BENCH_BODY") or ""
local path_template = os.getenv("BENCH_PATH") or "/"
local list_file = os.getenv("BENCH_LIST") or ""
local pick = os.getenv("BENCH_PICK") or "sequential"
local prefix = os.getenv("BENCH_PREFIX") or "bench"
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local headers = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.-)%s*$")
  if name ~= nil then headers[name] = value end
end

local thread_count = 0
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local values = nil
local count = 0
local counter = 0
local stride = 1

function init(args)
  stride = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
  math.randomseed(os.time() + (thread_index or 0))
  if list_file ~= "" then
    values = {}
    for line in io.lines(list_file) do
      count = count + 1
      values[count] = line
    end
  end
  counter = offset + (thread_index or 0)
end

local function fill(template, value)
  -- plain replacement: values may hold characters that are special to gsub
  local first, last = string.find(template, "{}", 1, true)
  if first == nil then return template end
  return string.sub(template, 1, first - 1) .. value .. string.sub(template, last + 1)
end

function request()
  local value
  if values ~= nil then
    if pick == "random" then
      value = values[math.random(count)]
    else
      value = values[(counter % count) + 1]
      counter = counter + stride
    end
  else
    value = prefix .. (thread_index or 0) .. "-" .. counter
    counter = counter + 1
  end
  local body = nil
  if body_template ~= "" then body = fill(body_template, value) end
  return wrk.format(method, fill(path_template, value), headers, body)
end
