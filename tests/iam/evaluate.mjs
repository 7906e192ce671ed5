// Evaluates every recorded AWS call against its function's role policies with a real IAM policy
// evaluator (@cloud-copilot/iam-simulate; AGPL-3.0, a test tool only, never shipped).
//
//   node evaluate.mjs policies.json calls.jsonl
//
// policies.json: tests/iam/expand_policies.py's output. calls.jsonl: the call recorder's lines
// (TRIBUTARY_CALL_LOG, shared/aws/src/calls.rs). S3 calls are also evaluated against the bucket's
// policy (the TLS-only deny), as requests made over TLS.
//
// Prints one JSON document: {checked, denied: [{function, action, resource, result}],
// unexercised: [{function, sid, action, resource}], unknown_functions: [...]}, and exits 1 when a
// call is denied, comes from a function the template does not define, or cannot be evaluated.
import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const [policiesFile, callsFile] = process.argv.slice(2)
const expanded = JSON.parse(readFileSync(policiesFile, 'utf8'))
const calls = readFileSync(callsFile, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l))

const asList = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])
// IAM wildcard matching: `*` any run of characters, `?` one character; actions ignore case.
const glob = (pattern, value, ignoreCase) => {
  const re = new RegExp(
    '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$',
    ignoreCase ? 'i' : ''
  )
  return re.test(value)
}

const unique = new Map()
for (const c of calls) unique.set(`${c.function}\u0000${c.action}\u0000${c.resource}`, c)

const denied = []
const unknown = new Set()
const allowed = []
for (const c of unique.values()) {
  const fn = expanded.functions[c.function]
  if (!fn) {
    unknown.add(c.function)
    continue
  }
  const account = '123456789012'
  let resourcePolicy
  if (c.action.startsWith('s3:')) {
    const bucket = c.resource.replace(/^arn:aws:s3:::/, '').split('/')[0]
    resourcePolicy = expanded.bucket_policies[bucket]
  }
  const simulation = {
    identityPolicies: fn.policies.map((p) => ({ name: p.name, policy: p.policy })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy,
    request: {
      principal: fn.role,
      action: c.action,
      resource: { resource: c.resource, accountId: account },
      contextVariables: { 'aws:SecureTransport': 'true' }
    }
  }
  const response = await runSimulation(simulation, {})
  if (response.resultType === 'error') {
    denied.push({ ...c, result: 'error: ' + JSON.stringify(response.errors) })
  } else if (response.overallResult !== 'Allowed') {
    denied.push({ function: c.function, action: c.action, resource: c.resource, result: response.overallResult })
  } else {
    allowed.push(c)
  }
}

// Granted (action, resource pattern) pairs of Allow statements that no allowed call used.
const unexercised = []
for (const [name, fn] of Object.entries(expanded.functions)) {
  const mine = allowed.filter((c) => c.function === name)
  for (const p of fn.policies) {
    for (const s of asList(p.policy.Statement)) {
      if (s.Effect !== 'Allow') continue
      for (const action of asList(s.Action)) {
        for (const resource of asList(s.Resource)) {
          const used = mine.some((c) => glob(action, c.action, true) && glob(resource, c.resource, false))
          if (!used) unexercised.push({ function: name, sid: s.Sid ?? p.name, action, resource })
        }
      }
    }
  }
}

const report = {
  checked: unique.size,
  denied,
  unexercised,
  unknown_functions: [...unknown]
}
console.log(JSON.stringify(report, null, 1))
process.exit(denied.length || unknown.size ? 1 : 0)
