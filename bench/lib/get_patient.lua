-- bench/lib/get_patient.lua - GET <url><id> for random ids out of BENCH_IDS
-- (a file, one id a line); <url> ends with ".../Patient/". Statuses are
-- counted only with BENCH_STATUS=1: without response() wrk stays cheaper at
-- tens of thousands of requests/s and reports just its own non-2xx count.
dofile(os.getenv("BENCH_LIB") .. "/stats.lua")

local reqs = {}

function init(args)
  local ids = {}
  for line in io.lines(os.getenv("BENCH_IDS")) do
    if line ~= "" then table.insert(ids, line) end
  end
  assert(#ids > 0, "no ids in " .. os.getenv("BENCH_IDS"))
  math.randomseed(os.time() * 7 + (tid or 0))
  -- pre-format a shuffled pool of requests; request() just cycles through it
  for i = 1, math.max(#ids, 1024) do
    local id = ids[math.random(#ids)]
    local headers = {["Accept"] = "application/fhir+json"}
    -- BENCH_AUTH: a bearer token to send (bench/access.sh)
    if os.getenv("BENCH_AUTH") then headers["Authorization"] = "Bearer " .. os.getenv("BENCH_AUTH") end
    reqs[i] = wrk.format("GET", wrk.path .. id, headers)
  end
end

local n = 0
function request()
  n = n % #reqs + 1
  return reqs[n]
end

if os.getenv("BENCH_STATUS") == "1" then
  function response(status, headers, body)
    count_status(status, body)
  end
end
