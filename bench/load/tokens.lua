-- wrk script of the load benchmark (bench/load/run.sh).
--
--   wrk -t THREADS -s tokens.lua <url> -- TOKENS_FILE THREADS
--
-- Sends GET <url path> with `Authorization: Bearer <token>`, rotating through the tokens of
-- TOKENS_FILE (one per line): each thread starts at its own offset and takes the next token
-- for each request, so a pool of N tokens is cycled through evenly. A file with one token
-- measures the common browser case: one session token reused for its whole life.
--
-- At the end it prints one line, `WRK_JSON {...}`: requests, seconds, req/s, latency
-- percentiles (ms), socket errors and `non2xx` (responses with a status >= 400, wrk's
-- `errors.status`), for run.sh to check and tabulate.

local tokens = {}
local threads = {}
local next_index = 1
local path = "/"

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  if not file then
    error("usage: wrk -t THREADS -s tokens.lua <url> -- TOKENS_FILE THREADS")
  end
  for line in io.lines(file) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  if #tokens == 0 then
    error("no token in " .. file)
  end
  path = wrk.path
  -- Spread the threads over the pool.
  local nthreads = tonumber(args[2] or "1") or 1
  next_index = (math.floor(#tokens * (thread_id or 0) / nthreads) % #tokens) + 1
  -- Pre-format every request once: the load generator's own cost stays small and equal for
  -- one token or many.
  for i, token in ipairs(tokens) do
    tokens[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
  end
end

function request()
  local req = tokens[next_index]
  next_index = next_index + 1
  if next_index > #tokens then
    next_index = 1
  end
  return req
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"seconds":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"non2xx":%d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.timeout, e.status))
end
