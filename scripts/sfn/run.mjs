// Runs one of statemachines/*.asl.json locally with the real handlers: the ASL interpreter is the
// npm package aws-local-stepfunctions (pinned in package.json); every Task state is answered here:
//
//   Lambda ARNs (`${<Name>FunctionArn}`)     POST to `cargo lambda watch`'s invoke API (the binary
//                                            named after the placeholder: S3Landing → s3-landing);
//                                            an error reply is thrown with its errorType as the
//                                            error name, so Retry/Catch see `Tributary.Retryable`
//                                            etc.; no reply is `Lambda.ServiceException`, no reply
//                                            within TimeoutSeconds is `States.Timeout`.
//   arn:aws:states:::sqs:sendMessage         SendMessage to the emulator (AWS_ENDPOINT_URL).
//   arn:aws:states:::states:startExecution.sync:2
//                                            the named child machine, run here the same way;
//                                            a name already used in this process is refused
//                                            (StepFunctions.ExecutionAlreadyExistsException).
//
// Emulated, because the interpreter has no Distributed Map: a Map state with an `ItemReader` or
// `ProcessorConfig.Mode: DISTRIBUTED` becomes a Task answered here: items are read from the
// emulator's S3 (ItemReader, `s3:getObject`, InputType JSON), each item runs the ItemProcessor as
// a child execution (MaxConcurrency, capped by SFN_LOCAL_MAP_CONCURRENCY, default 8),
// ToleratedFailurePercentage/Count are applied, and results are written to S3 as Step Functions
// does (ResultWriter: <Prefix>/<map run id>/manifest.json, SUCCEEDED_0.json, FAILED_0.json); the
// output is {MapRunArn, ResultWriterDetails: {Bucket, Key}}. Not emulated: ItemBatcher, CSV or
// manifest readers, Express-vs-Standard semantics, execution history limits.
//
// Usage: node scripts/sfn/run.mjs --machine cdc-pipeline --input '{"table": "..."}'
//          [--input-file F] [--lambda http://127.0.0.1:9000] [--sub Name=value ...]
//          [--name execution-name] [--wait-seconds N] [--quiet]
// The emulator's address comes from AWS_ENDPOINT_URL; substitutions from the JSON file named by
// TRIBUTARY_SFN_SUBSTITUTIONS (written by scripts/local_aws.py), then --sub. Each step is printed to stderr with its
// timing; the last stdout line is one JSON object: {status, output | error, cause, retries,
// caught, steps, output_bytes, execution}. Exit code 0 if the execution succeeded, 1 if it failed,
// 2 on a usage error.

// The interpreter wants Node 22's Promise.withResolvers; this polyfill runs it on Node 20.
if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const { StateMachine } = await import('aws-local-stepfunctions');

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REGION = process.env.AWS_REGION || 'us-east-1';
const ACCOUNT = '123456789012';
const PREFIX = process.env.TRIBUTARY_PREFIX || 'tributary';
const started = new Map(); // machine ARN -> Set of execution names used in this process

function usage(msg) {
  process.stderr.write(`run.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const file = process.env.TRIBUTARY_SFN_SUBSTITUTIONS;
  const a = { subs: file ? JSON.parse(readFileSync(file, 'utf8')) : {}, lambda: process.env.SFN_LAMBDA_URL || 'http://127.0.0.1:9000', quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) usage(`${k} needs a value`); return argv[++i]; };
    if (k === '--machine') a.machine = v();
    else if (k === '--input') a.input = v();
    else if (k === '--input-file') a.input = readFileSync(v(), 'utf8');
    else if (k === '--lambda') a.lambda = v();
    else if (k === '--name') a.name = v();
    else if (k === '--wait-seconds') a.wait = Number(v());
    else if (k === '--quiet') a.quiet = true;
    else if (k === '--sub') {
      const s = v(); const eq = s.indexOf('=');
      if (eq < 1) usage(`--sub wants Name=value, not ${s}`);
      a.subs[s.slice(0, eq)] = s.slice(eq + 1);
    } else usage(`unknown argument ${k}`);
  }
  if (!a.machine) usage('--machine is required');
  return a;
}

const kebab = (s) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
const machineArn = (name) => `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${PREFIX}-${name}`;

/** `${Name}` → value: explicit --sub values, else Lambda and state-machine ARNs by name. */
function substitute(text, subs) {
  return text.replace(/\$\{([A-Za-z0-9]+)\}/g, (_, name) => {
    if (name in subs) return subs[name];
    let m = name.match(/^(.*)FunctionArn$/);
    if (m) return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${kebab(m[1])}`;
    m = name.match(/^(.*)StateMachineArn$/);
    if (m) return machineArn(kebab(m[1]));
    throw new Error(`no value for \${${name}}: pass --sub ${name}=...`);
  });
}

function loadMachine(name, subs) {
  const file = join(ROOT, 'statemachines', `${name}.asl.json`);
  return JSON.parse(substitute(readFileSync(file, 'utf8'), subs));
}

function endpoint() {
  const e = process.env.AWS_ENDPOINT_URL;
  if (!e) throw new Error('AWS_ENDPOINT_URL is not set (the emulator)');
  return e.replace(/\/$/, '');
}

function taskError(name, message) {
  const e = new Error(message);
  e.name = name;
  return e;
}

// ------------------------------------------------------------------ JSON paths (the subset used)
function getPath(path, input, context) {
  let root = input;
  let rest = path;
  if (path.startsWith('$$')) { root = context; rest = path.slice(2); } else rest = path.slice(1);
  let v = root;
  for (const part of rest.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '')) {
    if (v === null || v === undefined) break;
    v = v[/^\d+$/.test(part) && Array.isArray(v) ? Number(part) : part];
  }
  if (v === undefined) throw taskError('States.Runtime', `path ${path} not found in the input`);
  return v;
}

/** A payload template (Parameters, ItemSelector): `k.$` keys take values from paths. */
function applyTemplate(tpl, input, context) {
  if (Array.isArray(tpl)) return tpl.map((x) => applyTemplate(x, input, context));
  if (tpl === null || typeof tpl !== 'object') return tpl;
  const out = {};
  for (const [k, v] of Object.entries(tpl)) {
    if (k.endsWith('.$')) {
      if (typeof v !== 'string' || !v.startsWith('$')) {
        throw taskError('States.Runtime', `only plain paths are emulated in ${k}: ${v}`);
      }
      out[k.slice(0, -2)] = getPath(v, input, context);
    } else out[k] = applyTemplate(v, input, context);
  }
  return out;
}

// ------------------------------------------------------------------ the emulator (S3, SQS)
// The emulator checks no signature but wants to see which credentials sign a request.
function auth(service) {
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '');
  const key = process.env.AWS_ACCESS_KEY_ID || 'test';
  return `AWS4-HMAC-SHA256 Credential=${key}/${day}/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`;
}

async function s3Get(bucket, key) {
  const r = await fetch(`${endpoint()}/${bucket}/${encodeURI(key)}`, { headers: { authorization: auth('s3') } });
  if (!r.ok) throw taskError('States.ItemReaderFailed', `s3://${bucket}/${key}: HTTP ${r.status}`);
  return r.text();
}

async function s3Put(bucket, key, body) {
  const r = await fetch(`${endpoint()}/${bucket}/${encodeURI(key)}`, {
    method: 'PUT', body, headers: { 'content-type': 'application/json', authorization: auth('s3') },
  });
  if (!r.ok) throw taskError('States.ResultWriterFailed', `s3://${bucket}/${key}: HTTP ${r.status}`);
  return Buffer.byteLength(body);
}

async function sqsSend(params) {
  const body = typeof params.MessageBody === 'string' ? params.MessageBody : JSON.stringify(params.MessageBody);
  const form = new URLSearchParams({ Action: 'SendMessage', Version: '2012-11-05', QueueUrl: params.QueueUrl, MessageBody: body });
  const r = await fetch(endpoint() + '/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth('sqs') },
    body: form.toString(),
  });
  const text = await r.text();
  if (!r.ok) throw taskError('SQS.SdkClientException', `SendMessage: HTTP ${r.status} ${text.slice(0, 300)}`);
  const tag = (name) => (text.match(new RegExp(`<${name}>([^<]*)</${name}>`)) || [])[1];
  return { MessageId: tag('MessageId'), MD5OfMessageBody: tag('MD5OfMessageBody') };
}

// ------------------------------------------------------------------ Lambda (cargo lambda watch)
async function invokeLambda(opts, fn, input, timeoutSeconds) {
  const url = `${opts.lambda}/2015-03-31/functions/${fn}/invocations`;
  let r;
  try {
    r = await fetch(url, {
      method: 'POST', body: JSON.stringify(input), headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout((timeoutSeconds || 900) * 1000),
    });
  } catch (e) {
    if (e.name === 'TimeoutError') throw taskError('States.Timeout', `${fn}: no answer in ${timeoutSeconds} s`);
    throw taskError('Lambda.ServiceException', `${fn}: ${e.message}`);
  }
  const text = await r.text();
  let body;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (r.status >= 200 && r.status < 300 && !r.headers.get('x-amz-function-error')) return body;
  if (body && typeof body === 'object' && body.errorType) throw taskError(body.errorType, body.errorMessage || '');
  throw taskError('Lambda.ServiceException', `${fn}: HTTP ${r.status} ${String(text).slice(0, 300)}`);
}

// ------------------------------------------------------------------ Distributed Map (emulated)
function isDistributed(state) {
  return state.Type === 'Map' && (state.ItemReader || state.ItemProcessor?.ProcessorConfig?.Mode === 'DISTRIBUTED');
}

async function pool(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

async function distributedMap(opts, state, stateName, input, context) {
  let items;
  if (state.ItemReader) {
    const p = applyTemplate(state.ItemReader.Parameters || {}, input, context);
    if (state.ItemReader.Resource !== 'arn:aws:states:::s3:getObject' || (state.ItemReader.ReaderConfig?.InputType ?? 'JSON') !== 'JSON') {
      throw taskError('States.Runtime', `${stateName}: only s3:getObject with InputType JSON is emulated`);
    }
    items = JSON.parse(await s3Get(p.Bucket, p.Key));
    if (!Array.isArray(items)) throw taskError('States.ItemReaderFailed', `s3://${p.Bucket}/${p.Key} is not a JSON array`);
  } else {
    items = getPath(state.ItemsPath || '$', input, context);
  }
  const processor = { ...state.ItemProcessor };
  delete processor.ProcessorConfig;
  const mapRunId = randomUUID();
  const mapRunArn = `arn:aws:states:${REGION}:${ACCOUNT}:mapRun:${context.StateMachine.Name}/${stateName}:${mapRunId}`;
  const cap = Number(process.env.SFN_LOCAL_MAP_CONCURRENCY || 8);
  const limit = Math.min(state.MaxConcurrency || cap, cap);
  const { handlers, converted } = taskHandlers(opts, processor, context);
  const child = new StateMachine(converted, { validationOptions: { noValidate: true } });
  const runs = await pool(items, limit, async (value, index) => {
    const itemInput = state.ItemSelector
      ? applyTemplate(state.ItemSelector, input, { ...context, Map: { Item: { Value: value, Index: index } } })
      : value;
    const name = `${mapRunId.slice(0, 8)}-${index}`;
    const startDate = new Date().toISOString();
    const ctx = { ...context, Execution: { Id: `${mapRunArn}:${name}`, Name: name } };
    const run = { ExecutionArn: ctx.Execution.Id, Name: name, Input: JSON.stringify(itemInput), StartDate: startDate, StateMachineArn: context.StateMachine.Id };
    try {
      const out = await child.run(itemInput, { overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: opts.waits }, context: ctx }).result;
      return { ...run, Output: JSON.stringify(out), Status: 'SUCCEEDED', StopDate: new Date().toISOString() };
    } catch (e) {
      const cause = e.cause || e;
      return { ...run, Error: cause.name, Cause: cause.message, Status: 'FAILED', StopDate: new Date().toISOString() };
    }
  });
  const failed = runs.filter((r) => r.Status === 'FAILED');
  const succeeded = runs.filter((r) => r.Status === 'SUCCEEDED');
  const tolerated = Math.max(
    state.ToleratedFailureCount ?? 0,
    Math.floor(((state.ToleratedFailurePercentage ?? 0) / 100) * runs.length),
  );
  if (!opts.quiet) process.stderr.write(`      ${stateName}: ${runs.length} items (${succeeded.length} succeeded, ${failed.length} failed) as child executions, ${limit} at a time\n`);
  if (failed.length > tolerated) {
    throw taskError('States.ExceedToleratedFailureThreshold', `${failed.length} of ${runs.length} items failed (tolerated ${tolerated})`);
  }
  if (!state.ResultWriter) return runs.map((r) => (r.Output ? JSON.parse(r.Output) : null));
  const w = applyTemplate(state.ResultWriter.Parameters || {}, input, context);
  const base = `${w.Prefix ? w.Prefix.replace(/\/$/, '') + '/' : ''}${mapRunId}`;
  const files = { SUCCEEDED: [], FAILED: [], PENDING: [] };
  for (const [status, list] of [['SUCCEEDED', succeeded], ['FAILED', failed]]) {
    if (!list.length) continue;
    const key = `${base}/${status}_0.json`;
    files[status].push({ Key: key, Size: await s3Put(w.Bucket, key, JSON.stringify(list)) });
  }
  const manifestKey = `${base}/manifest.json`;
  await s3Put(w.Bucket, manifestKey, JSON.stringify({ DestinationBucket: w.Bucket, MapRunArn: mapRunArn, ResultFiles: files }));
  return { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: w.Bucket, Key: manifestKey } };
}

/** The definition with every Distributed Map turned into a Task answered by `distributedMap`. */
function withDistributedMaps(def, maps) {
  const states = {};
  for (const [name, s] of Object.entries(def.States)) {
    if (isDistributed(s)) {
      maps[name] = s;
      // A Map state has no timeout of its own (a Task's default would be 60 s).
      const t = { Type: 'Task', Resource: 'arn:aws:states:::local:distributed-map', TimeoutSeconds: 86400 }; // within setTimeout's range
      for (const k of ['InputPath', 'OutputPath', 'ResultPath', 'ResultSelector', 'Retry', 'Catch', 'Next', 'End', 'Comment']) {
        if (k in s) t[k] = s[k];
      }
      states[name] = t;
    } else if (s.Type === 'Map' && (s.ItemProcessor || s.Iterator)) {
      const key = s.ItemProcessor ? 'ItemProcessor' : 'Iterator';
      states[name] = { ...s, [key]: withDistributedMaps(s[key], maps) };
    } else if (s.Type === 'Parallel') {
      states[name] = { ...s, Branches: s.Branches.map((b) => withDistributedMaps(b, maps)) };
    } else states[name] = s;
  }
  return { ...def, States: states };
}

// ------------------------------------------------------------------ Task handlers
function tasks(def, out = {}) {
  for (const [name, s] of Object.entries(def.States)) {
    if (s.Type === 'Task') {
      if (out[name] && out[name].Resource !== s.Resource) throw new Error(`two Task states named ${name} with different resources`);
      out[name] = s;
    }
    if (s.Type === 'Map' && (s.ItemProcessor || s.Iterator)) tasks(s.ItemProcessor || s.Iterator, out);
    if (s.Type === 'Parallel') s.Branches.forEach((b) => tasks(b, out));
  }
  return out;
}

function taskHandlers(opts, def, context) {
  const maps = {};
  const converted = withDistributedMaps(def, maps);
  const handlers = {};
  for (const [name, s] of Object.entries(tasks(converted))) {
    const res = s.Resource;
    const lambda = res.match(/^arn:aws:lambda:[^:]*:[^:]*:function:([^:]+)$/);
    if (lambda) handlers[name] = (input) => invokeLambda(opts, lambda[1], input, s.TimeoutSeconds);
    else if (res === 'arn:aws:states:::sqs:sendMessage') handlers[name] = (input) => sqsSend(input);
    else if (res === 'arn:aws:states:::states:startExecution.sync:2') {
      handlers[name] = (input) => childExecution(opts, input);
    } else if (res === 'arn:aws:states:::local:distributed-map') {
      handlers[name] = (input) => distributedMap(opts, maps[name], name, input, context);
    } else throw new Error(`Task ${name}: resource ${res} is not emulated`);
  }
  return { handlers, converted };
}

async function childExecution(opts, params) {
  const arn = params.StateMachineArn;
  const m = arn.match(/:stateMachine:(.+)$/);
  if (!m || !m[1].startsWith(`${PREFIX}-`)) throw taskError('States.Runtime', `unknown state machine ${arn}`);
  const name = params.Name || randomUUID();
  const used = started.get(arn) || new Set();
  if (used.has(name)) throw taskError('StepFunctions.ExecutionAlreadyExistsException', `execution ${name} already exists`);
  used.add(name);
  started.set(arn, used);
  const input = typeof params.Input === 'string' ? JSON.parse(params.Input) : params.Input ?? {};
  const r = await execute({ ...opts, machine: m[1].slice(PREFIX.length + 1), name, depth: (opts.depth || 0) + 1 }, input);
  const base = { ExecutionArn: r.execution, StateMachineArn: arn, Name: name, Input: input, StartDate: r.start, StopDate: new Date().toISOString() };
  if (r.status !== 'SUCCEEDED') throw taskError('States.TaskFailed', JSON.stringify({ ...base, Status: 'FAILED', Error: r.error, Cause: r.cause }));
  return { ...base, Status: 'SUCCEEDED', Output: r.output };
}

// ------------------------------------------------------------------ an execution
async function execute(opts, input) {
  const def = loadMachine(opts.machine, opts.subs);
  const smArn = machineArn(opts.machine);
  const name = opts.name || randomUUID();
  const context = {
    Execution: { Id: `${smArn.replace(':stateMachine:', ':execution:')}:${name}`, Name: name, RoleArn: `arn:aws:iam::${ACCOUNT}:role/${PREFIX}-sfn` },
    StateMachine: { Id: smArn, Name: `${PREFIX}-${opts.machine}` },
  };
  const waits = {};
  if (opts.wait !== undefined) for (const s of waitStates(def)) waits[s] = opts.wait;
  opts = { ...opts, waits };
  const { handlers, converted } = taskHandlers(opts, def, context);
  const sm = new StateMachine(converted, { validationOptions: { noValidate: true } });
  const indent = '  '.repeat((opts.depth || 0) + 1);
  const log = (line) => { if (!opts.quiet) process.stderr.write(`${indent}${line}\n`); };
  const t0 = Date.now();
  const start = new Date(t0).toISOString();
  log(`execution ${context.StateMachine.Name}/${name} started`);
  const exec = sm.run(input, { overrides: { taskResourceLocalHandlers: handlers, waitTimeOverrides: waits }, context });
  const retries = [], caught = [], steps = [];
  const entered = {};
  const lastError = {}; // state -> the error of its last failed attempt (retries and catches name it)
  const logging = (async () => {
    for await (const ev of exec.eventLogs) {
      const at = ((ev.timestamp - t0) / 1000).toFixed(2).padStart(7);
      const slot = `${ev.state?.name}#${ev.index ?? ''}`; // Map items run the same states at once
      if (ev.type === 'StateEntered') entered[slot] = ev.timestamp;
      else if (ev.type === 'StateExited') {
        const ms = ev.timestamp - (entered[slot] ?? ev.timestamp);
        steps.push({ state: ev.state.name, type: ev.state.type, ms });
        const item = ev.index === undefined ? '' : `[${ev.index}]`;
        log(`[${at}s] ${ev.state.name}${item} (${ev.state.type}) ${ms} ms`);
      } else if (ev.type === 'StateRetried') {
        const error = lastError[ev.state.name];
        retries.push({ state: ev.state.name, attempt: ev.retry.attempt, error });
        log(`[${at}s] ${ev.state.name} retried after ${error} (attempt ${ev.retry.attempt})`);
      } else if (ev.type === 'StateCaught') {
        const error = lastError[ev.state.name];
        caught.push({ state: ev.state.name, error });
        log(`[${at}s] ${ev.state.name} caught ${error}, next ${ev.catch.catcher.Next}`);
      } else if (ev.type === 'StateFailed') {
        lastError[ev.state.name] = ev.Error;
        log(`[${at}s] ${ev.state.name} failed: ${ev.Error}: ${String(ev.Cause ?? '').slice(0, 200)}`);
      } else if (ev.type === 'MapIterationFailed') {
        log(`[${at}s] ${ev.parentState.name}[${ev.index}] failed: ${ev.Error}`);
      }
    }
  })();
  let result;
  try {
    const output = await exec.result;
    result = { status: 'SUCCEEDED', output };
  } catch (e) {
    const cause = e.cause || e;
    result = { status: 'FAILED', error: cause.name, cause: cause.message };
  }
  await logging.catch(() => {});
  const ms = Date.now() - t0;
  log(`execution ${context.StateMachine.Name}/${name} ${result.status} in ${(ms / 1000).toFixed(2)} s`);
  const bytes = result.output === undefined ? 0 : Buffer.byteLength(JSON.stringify(result.output));
  return { ...result, execution: context.Execution.Id, start, ms, retries, caught, steps, output_bytes: bytes };
}

function waitStates(def, out = []) {
  for (const [name, s] of Object.entries(def.States)) {
    if (s.Type === 'Wait') out.push(name);
    if (s.Type === 'Map' && (s.ItemProcessor || s.Iterator)) waitStates(s.ItemProcessor || s.Iterator, out);
    if (s.Type === 'Parallel') s.Branches.forEach((b) => waitStates(b, out));
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
let input;
try { input = JSON.parse(args.input ?? '{}'); } catch (e) { usage(`--input is not JSON: ${e.message}`); }
try {
  const r = await execute(args, input);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(r.status === 'SUCCEEDED' ? 0 : 1);
} catch (e) {
  process.stderr.write(`run.mjs: ${e.stack || e}\n`);
  process.exit(2);
}
