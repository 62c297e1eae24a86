-- tests/soak/mix.lua - the wrk script of the soak test (tests/soak/soak.sh):
-- mixed read/search/write load on a running `bron serve`, every answer
-- checked against the status it must have.
--
-- Run as `wrk -tN -cN`: one connection per wrk thread, so a thread's
-- requests and answers strictly alternate and response() always knows which
-- request it answers (`pending`).
--
-- Environment:
--   SOAK_DIR    the run's directory, made by soak.sh: reads.txt (request
--               paths of existing resources), searches.txt (search paths that
--               match at least one resource), patients.txt (Patient ids) and,
--               per thread, pool.<tid> (ids of Observations this thread
--               created and has not deleted yet, carried from one wrk run to
--               the next)
--   SOAK_TOKEN  the bearer token
--   SOAK_PREFIX the base path, e.g. /fhir
--
-- Mix per request: 60% reads (Type/id of the loaded data; one in ten of the
-- thread's own Observations), 25% searches (searches.txt; half the time the
-- next page of an answer that has one is followed, up to 3 pages), 15%
-- writes: 45% updates of an own Observation, 40% a create or a delete (a
-- create below LOW own Observations, a delete above HIGH, else either), 15% a
-- transaction Bundle (a create, an update and, above LOW, a delete). Creates
-- and deletes balance, so the number of live resources stays level while the
-- history and the audit trail grow.
--
-- done() prints one line for soak.sh:
--   SOAK requests=N duration_us=N p50_us=N p99_us=N max_us=N errors=N
--        sockerr=N reads=N searches=N pages=N creates=N updates=N deletes=N
--        transactions=N
-- (errors: answers with another status than expected, or a body that is not
-- what it must be; sockerr: wrk's connect/read/write/timeout errors), then
-- "SOAK_BAD <what> <status> <body start>" for the first few errors.

local LOW, HIGH = 20, 60

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local dir = os.getenv("SOAK_DIR")
local prefix = os.getenv("SOAK_PREFIX") or "/fhir"
local token = os.getenv("SOAK_TOKEN")

local reads, searches, patients = {}, {}, {}
pool = {}       -- ids of own Observations (global: done() reads it)
counts = { reads = 0, searches = 0, pages = 0, creates = 0, updates = 0, deletes = 0, transactions = 0 }
errors = 0
bad = {}

local get_hdr, put_hdr
local pending = nil   -- { what, expect, check }
local next_page = nil -- path of a next page to follow
local depth = 0
local seq = 0

local function lines_of(path, into)
  local f = io.open(path, "r")
  if not f then return into end
  for line in f:lines() do
    if line ~= "" then table.insert(into, line) end
  end
  f:close()
  return into
end

function init(args)
  lines_of(dir .. "/reads.txt", reads)
  lines_of(dir .. "/searches.txt", searches)
  lines_of(dir .. "/patients.txt", patients)
  lines_of(dir .. "/pool." .. tid, pool)
  assert(#reads > 0 and #searches > 0 and #patients > 0, "soak: empty id lists in " .. dir)
  math.randomseed(os.time() * 1000 + tid * 7919)
  get_hdr = { ["Accept"] = "application/fhir+json", ["Authorization"] = "Bearer " .. token }
  put_hdr = { ["Accept"] = "application/fhir+json", ["Content-Type"] = "application/fhir+json",
              ["Authorization"] = "Bearer " .. token }
end

local function pick(t) return t[math.random(#t)] end

local function observation(id)
  seq = seq + 1
  local idpart = id and ('"id":"' .. id .. '",') or ""
  return '{"resourceType":"Observation",' .. idpart .. '"status":"final",' ..
    '"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],' ..
    '"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},' ..
    '"subject":{"reference":"Patient/' .. pick(patients) .. '"},' ..
    string.format('"effectiveDateTime":"2024-%02d-%02dT%02d:%02d:00Z",', math.random(12), math.random(28),
      math.random(0, 23), math.random(0, 59)) ..
    '"valueQuantity":{"value":' .. math.random(40, 180) ..
    ',"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"},' ..
    '"note":[{"text":"soak ' .. tid .. '-' .. seq .. '"}]}'
end

local function take_from_pool()
  local i = math.random(#pool)
  local id = pool[i]
  pool[i] = pool[#pool]
  pool[#pool] = nil
  return id
end

local function req(what, expect, check, method, path, hdr, body)
  pending = { what = what, expect = expect, check = check }
  return wrk.format(method, prefix .. path, hdr, body)
end

local function create()
  counts.creates = counts.creates + 1
  return req("create", 201, '"resourceType":"Observation"', "POST", "/Observation", put_hdr, observation(nil))
end

local function write()
  local w = math.random()
  if w < 0.45 then
    if #pool == 0 then return create() end
    counts.updates = counts.updates + 1
    local id = pick(pool)
    return req("update", 200, '"id":"' .. id .. '"', "PUT", "/Observation/" .. id, put_hdr, observation(id))
  elseif w < 0.85 then
    local del = (#pool > HIGH) or (#pool >= LOW and math.random() < 0.5)
    if not del then return create() end
    counts.deletes = counts.deletes + 1
    -- out of the pool when sent: a delete cut off by the end of a run is not retried
    return req("delete", 200, nil, "DELETE", "/Observation/" .. take_from_pool(), get_hdr, nil)
  end
  counts.transactions = counts.transactions + 1
  local entries = { '{"fullUrl":"urn:uuid:' .. string.format("%08x-0000-4000-8000-%012x", tid, seq) ..
    '","resource":' .. observation(nil) .. ',"request":{"method":"POST","url":"Observation"}}' }
  if #pool > LOW then -- taken out first: the update below must touch another one
    table.insert(entries, '{"request":{"method":"DELETE","url":"Observation/' .. take_from_pool() .. '"}}')
  end
  if #pool > 0 then
    local id = pick(pool)
    table.insert(entries, '{"resource":' .. observation(id) .. ',"request":{"method":"PUT","url":"Observation/' .. id .. '"}}')
  end
  return req("transaction", 200, '"type":"transaction-response"', "POST", "", put_hdr,
    '{"resourceType":"Bundle","type":"transaction","entry":[' .. table.concat(entries, ",") .. ']}')
end

function request()
  if next_page then
    local p = next_page
    next_page = nil
    counts.pages = counts.pages + 1
    pending = { what = "page", expect = 200, check = '"type":"searchset"' }
    return wrk.format("GET", p, get_hdr)
  end
  depth = 0
  local r = math.random()
  if r < 0.60 then
    counts.reads = counts.reads + 1
    if #pool > 0 and math.random() < 0.1 then
      return req("read-own", 200, '"resourceType":"Observation"', "GET", "/Observation/" .. pick(pool), get_hdr, nil)
    end
    return req("read", 200, '"resourceType":"', "GET", "/" .. pick(reads), get_hdr, nil)
  elseif r < 0.85 then
    counts.searches = counts.searches + 1
    -- the loaded data is never deleted: every listed search still matches
    return req("search", 200, '"entry":[', "GET", "/" .. pick(searches), get_hdr, nil)
  end
  return write()
end

local function fail(what, status, body)
  errors = errors + 1
  if #bad < 3 then
    table.insert(bad, what .. " " .. status .. " " .. string.gsub(string.sub(body or "", 1, 300), "%s+", " "))
  end
end

function response(status, headers, body)
  local p = pending
  pending = nil
  if not p then return end
  if status ~= p.expect or (p.check and not string.find(body or "", p.check, 1, true)) then
    fail(p.what .. " (expected " .. p.expect .. ")", status, body)
    return
  end
  if p.what == "create" then
    local loc = headers["Location"] or headers["location"] or ""
    local id = string.match(loc, "/Observation/([^/]+)/_history/")
    if id then table.insert(pool, id) else fail("create without a Location", status, loc) end
  elseif p.what == "transaction" then
    local n = 0
    for id in string.gmatch(body, '"location":"[^"]-/Observation/([^/"]+)/_history/1"') do
      table.insert(pool, id)
      n = n + 1
    end
    if n ~= 1 then fail("transaction with " .. n .. " creates in its answer", status, body) end
  elseif (p.what == "search" or p.what == "page") and depth < 3 and math.random() < 0.5 then
    local url = string.match(body, '"relation":"next","url":"([^"]+)"')
    if url then
      next_page = string.match(url, "^https?://[^/]+(/.*)$") or url
      depth = depth + 1
    end
  end
end

function done(summary, latency, requests)
  local tot = { reads = 0, searches = 0, pages = 0, creates = 0, updates = 0, deletes = 0, transactions = 0 }
  local errs = 0
  local bads = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts") or {}
    for k, _ in pairs(tot) do tot[k] = tot[k] + (c[k] or 0) end
    errs = errs + (t:get("errors") or 0)
    for _, b in ipairs(t:get("bad") or {}) do table.insert(bads, b) end
    local f = io.open(dir .. "/pool." .. t:get("tid"), "w")
    for _, id in ipairs(t:get("pool") or {}) do f:write(id, "\n") end
    f:close()
  end
  local e = summary.errors
  io.write(string.format(
    "SOAK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d errors=%d sockerr=%d " ..
    "reads=%d searches=%d pages=%d creates=%d updates=%d deletes=%d transactions=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    errs, e.connect + e.read + e.write + e.timeout,
    tot.reads, tot.searches, tot.pages, tot.creates, tot.updates, tot.deletes, tot.transactions))
  for i, b in ipairs(bads) do
    if i > 5 then break end
    io.write("SOAK_BAD ", b, "\n")
  end
end
