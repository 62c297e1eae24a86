-- bench/lib/stats.lua - shared by the wrk scripts (loaded with dofile).
-- Scripts that define response() call count_status(status, body) there; each
-- wrk thread then counts statuses and keeps the first few non-2xx bodies.
-- done() sums over all threads and prints one machine-readable line:
--   BENCH requests=N duration_us=N rps=X p50_us=N p99_us=N max_us=N
--         err_connect=N err_read=N err_write=N err_timeout=N non2xx=N
--         status=201:N,500:N
-- (latency percentiles from wrk's own histogram, in microseconds; non2xx is
-- wrk's own count of responses outside 2xx/3xx; status is empty when the
-- script has no response(), which keeps wrk cheaper on the fastest runs),
-- then one "BENCH_BAD <status> <body start>" line per kept non-2xx body.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

statuses = {}
bad = {}

function count_status(status, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and #bad < 3 then
    table.insert(bad, status .. " " .. string.gsub(string.sub(body or "", 1, 400), "%s+", " "))
  end
end

function all_threads()
  return threads
end

function done(summary, latency, requests)
  local st, keys = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do
      if st[k] == nil then table.insert(keys, k) end
      st[k] = (st[k] or 0) + v
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do table.insert(parts, k .. ":" .. st[k]) end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_timeout=%d non2xx=%d status=%s\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status, table.concat(parts, ",")))
  for _, t in ipairs(threads) do
    for _, b in ipairs(t:get("bad") or {}) do io.write("BENCH_BAD ", b, "\n") end
  end
  if done_hook then done_hook(threads) end
end
