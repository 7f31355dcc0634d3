-- wrk script for the what-if service over many accounts: each request POSTs
-- one line of the file $BODIES (one JSON body per line), picked at random,
-- with the bearer token $EXFEE_TOKEN; non-200 answers count as errors (see
-- docs/performance.md). The first question on an account computes its
-- figures (its legs not yet cached are priced); later ones reuse them.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("EXFEE_TOKEN")

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local bodies = {}
function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
  math.randomseed(7919 * ((id or 0) + 1))
end

function request()
  return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])
end

local failed = 0
function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
  end
end
