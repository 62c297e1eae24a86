-- bench/lib/search.lua - wrk script for bench/search.sh: GET the request
-- paths of BENCH_PATHS (a file, one path with its query string a line, e.g.
-- /fhir/Patient?identifier=...) in a shuffled order, counting statuses.
-- Prints stats.lua's BENCH line plus "BENCH_PCT p90_us=N p95_us=N".
dofile(os.getenv("BENCH_LIB") .. "/stats.lua")

local reqs = {}

function init(args)
  local paths = {}
  for line in io.lines(os.getenv("BENCH_PATHS")) do
    if line ~= "" then table.insert(paths, line) end
  end
  assert(#paths > 0, "no paths in " .. os.getenv("BENCH_PATHS"))
  math.randomseed(os.time() * 7 + (tid or 0))
  for i = #paths, 2, -1 do
    local j = math.random(i)
    paths[i], paths[j] = paths[j], paths[i]
  end
  for i, p in ipairs(paths) do
    reqs[i] = wrk.format("GET", p, {["Accept"] = "application/fhir+json"})
  end
end

local n = 0
function request()
  n = n % #reqs + 1
  return reqs[n]
end

function response(status, headers, body)
  count_status(status, body)
end

local stats_done = done
function done(summary, latency, requests)
  stats_done(summary, latency, requests)
  io.write(string.format("BENCH_PCT p90_us=%d p95_us=%d\n", latency:percentile(90), latency:percentile(95)))
end
