// A minimal Node.js Lambda Runtime API loop (node:http, one keep-alive
// socket): GET /invocation/next, JSON.parse, call the handler, POST the
// JSON result to /invocation/{id}/response (or /error). Unlike Lambda's
// managed Node runtime (aws-lambda-ric: native client, logging patches,
// callback/streaming handler support) it does only that.
//
//   node runtime.mjs handlers.noop      (module file without .mjs, export name)
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const PREFIX = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const request = (method, urlPath, body, headers = {}) =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host, port, method, path: PREFIX + urlPath, agent, headers },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.setHeader('Content-Length', Buffer.byteLength(body));
    req.end(body);
  });

const errorBody = (e) =>
  JSON.stringify({
    errorType: e?.name ?? 'Error',
    errorMessage: e?.message ?? String(e),
    trace: String(e?.stack ?? '').split('\n'),
  });

const [moduleName, exportName] = (process.argv[2] ?? '').split('.');
let handler;
try {
  const mod = await import(pathToFileURL(path.resolve(process.cwd(), `${moduleName}.mjs`)).href);
  handler = mod[exportName];
  if (typeof handler !== 'function') throw new Error(`${process.argv[2]} is not a function`);
} catch (e) {
  await request('POST', '/init/error', errorBody(e), {
    'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError',
  });
  process.exit(1);
}

for (;;) {
  const { res, body } = await request('GET', '/invocation/next');
  const id = res.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(res.headers['lambda-runtime-deadline-ms']);
  const context = {
    awsRequestId: id,
    invokedFunctionArn: res.headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
  };
  if (res.headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = res.headers['lambda-runtime-trace-id'];
  let out;
  let kind = 'response';
  const headers = { 'Content-Type': 'application/json' };
  try {
    out = JSON.stringify(await handler(JSON.parse(body), context));
  } catch (e) {
    out = errorBody(e);
    kind = 'error';
    headers['Lambda-Runtime-Function-Error-Type'] = 'Unhandled';
  }
  await request('POST', `/invocation/${id}/${kind}`, out, headers);
}
