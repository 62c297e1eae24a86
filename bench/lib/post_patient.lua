-- bench/lib/post_patient.lua - POST a realistic Patient (FHIR R4 JSON) to
-- <url>, which is the type endpoint (.../Patient). Counts response statuses.
-- Env: BENCH_IDS_OUT=FILE  write the ids of (up to BENCH_IDS_CAP, default 2000)
--                          created Patients to FILE, one a line (from Location).
dofile(os.getenv("BENCH_LIB") .. "/stats.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Accept"] = "application/fhir+json"
wrk.body = [[{
  "resourceType": "Patient",
  "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/Patient"]},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Johanna van der Berg, born 14 March 1957</div>"},
  "identifier": [
    {"use": "official", "system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"},
    {"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}]},
     "system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "MRN-0042-7781"}
  ],
  "active": true,
  "name": [
    {"use": "official", "family": "van der Berg", "given": ["Johanna", "Maria"], "prefix": ["Mevr."]},
    {"use": "usual", "given": ["Joke"]}
  ],
  "telecom": [
    {"system": "phone", "value": "+31 20 555 0142", "use": "home"},
    {"system": "phone", "value": "+31 6 5555 0199", "use": "mobile", "rank": 1},
    {"system": "email", "value": "j.vandenberg@example.nl", "use": "home"}
  ],
  "gender": "female",
  "birthDate": "1957-03-14",
  "deceasedBoolean": false,
  "address": [
    {"use": "home", "type": "both", "line": ["Prinsengracht 263"], "city": "Amsterdam",
     "postalCode": "1016 GV", "country": "NL", "period": {"start": "1998-06-01"}}
  ],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}]},
  "communication": [
    {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl-NL", "display": "Dutch (Netherlands)"}]}, "preferred": true}
  ],
  "generalPractitioner": [{"display": "Huisartsenpraktijk Jordaan"}],
  "managingOrganization": {"display": "Ziekenhuis Amstelland"}
}]]

local ids_out = os.getenv("BENCH_IDS_OUT")
local cap = tonumber(os.getenv("BENCH_IDS_CAP") or "2000")
ids = {}

function response(status, headers, body)
  count_status(status, body)
  if ids_out and status == 201 and #ids < cap then
    local loc = headers["Location"] or headers["location"] or ""
    local id = loc:match("/Patient/([^/]+)")
    if id then table.insert(ids, id) end
  end
end

function done_hook(threads)
  if not ids_out then return end
  local f = assert(io.open(ids_out, "w"))
  for _, t in ipairs(threads) do
    for _, id in ipairs(t:get("ids") or {}) do f:write(id, "\n") end
  end
  f:close()
end
