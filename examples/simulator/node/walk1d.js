#!/usr/bin/env node
// A 1-D walk simulator for mlx, written from core/src/mlx_core/proto/mlx_env.proto alone.
//
// Several agents each walk on a line of `length` cells. Each episode the goal is at one end,
// chosen at random and shown in the observation ([position in -1..1, goal side -1 or +1]);
// the agent starts in the middle. Actions: one discrete branch, 0 = left, 1 = stay,
// 2 = right. Reaching the goal gives reward 1 and ends the episode; reaching the other end
// ends it with nothing; after `max_steps` steps it ends as interrupted. Each step costs 0.01,
// so the best return is 1 - 0.01 * (steps to the goal).
//
// Usage: node walk1d.js [--port 5005] [--host 127.0.0.1] [--agents 4] [--ids same|new]
//                       [--mask] [--unary-only] [--bad-shape-after N] [--proto FILE]
//   --ids same      an agent keeps its id in its next episode; new: a fresh id per episode
//   --mask          forbid (action mask) the move onto the wrong end; masked actions are refused
//   --unary-only    answer StepStream with UNIMPLEMENTED, so that mlx steps with Step
//   --bad-shape-after N   a deliberate bug: from step N on, observations have 3 values, not 2
// --mlx-port and the engine flags mlx passes to simulators it launches are accepted too.
// Environment parameters (Initialize / SetParameters): length (cells, default 7), max_steps
// (default 20). $MLX_ENV_TOKEN, when set, is required from the trainer.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

// ---------------------------------------------------------------- options
function parseArgs(argv) {
  const opts = {
    port: 5005, host: '127.0.0.1', agents: 4, ids: 'same', mask: false, unaryOnly: false,
    badShapeAfter: -1, proto: path.join(__dirname, '..', '..', '..', 'core', 'src', 'mlx_core', 'proto', 'mlx_env.proto'),
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--port' || a === '--mlx-port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--agents') opts.agents = Number(next());
    else if (a === '--ids') opts.ids = next();
    else if (a === '--mask') opts.mask = true;
    else if (a === '--unary-only') opts.unaryOnly = true;
    else if (a === '--bad-shape-after') opts.badShapeAfter = Number(next());
    else if (a === '--proto') opts.proto = next();
    // Flags mlx passes to launched executables (engine settings): accepted and ignored.
    else if (['--width', '--height', '--quality-level', '--time-scale', '--target-frame-rate',
      '--capture-frame-rate'].includes(a)) next();
    else if (a === '--no-graphics') { /* nothing to draw anyway */ }
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['same', 'new'].includes(opts.ids)) throw new Error('--ids must be same or new');
  return opts;
}

// ---------------------------------------------------------------- tensors
// A Tensor is raw little-endian bytes in C order, with a numpy dtype name and a shape.
function f32Tensor(values, shape) {
  const buf = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => buf.writeFloatLE(v, 4 * i));
  return { dtype: 'float32', shape, data: buf };
}

function i64Tensor(values) {
  const buf = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), 8 * i));
  return { dtype: 'int64', shape: [values.length], data: buf };
}

function boolTensor(values, shape) {
  return { dtype: 'bool', shape, data: Buffer.from(values.map((v) => (v ? 1 : 0))) };
}

const ITEM_SIZE = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1, bool: 1 };

// Reads an integer tensor (the discrete actions) into an array of rows.
function readIntRows(t, what) {
  if (!t || !t.dtype) throw invalid(`${what} is missing`);
  const shape = (t.shape || []).map(Number);
  if (shape.length !== 2) throw invalid(`${what} has shape [${shape}], expected 2 dimensions`);
  const size = ITEM_SIZE[t.dtype];
  if (!size || !['int32', 'int64'].includes(t.dtype)) throw invalid(`${what} has dtype ${t.dtype}`);
  const [rows, cols] = shape;
  if (t.data.length !== rows * cols * size) {
    throw invalid(`${what} has ${t.data.length} bytes, expected ${rows * cols * size}`);
  }
  const out = [];
  for (let r = 0; r < rows; r++) {
    const row = [];
    for (let c = 0; c < cols; c++) {
      const off = (r * cols + c) * size;
      row.push(size === 8 ? Number(t.data.readBigInt64LE(off)) : t.data.readInt32LE(off));
    }
    out.push(row);
  }
  return out;
}

class InvalidArgument extends Error {}
function invalid(msg) { return new InvalidArgument(msg); }

// ---------------------------------------------------------------- the task
const PROTOCOL_VERSION = 1; // what InitializeResponse.protocol_version must say
const BEHAVIOR = 'Walker';
const N_ACTIONS = 3;

class Walk1D {
  constructor(opts) {
    this.opts = opts;
    this.params = { length: 7, max_steps: 20 };
    this.pendingParams = {};
    this.rng = Math.random;
    this.nextId = 0;
    this.stepCount = 0;
    this.agents = [];
    this.stats = [];
  }

  seed(seed) {
    if (seed < 0) { this.rng = Math.random; return; }
    // A linear congruential generator (x <- 1664525 x + 1013904223 mod 2^32): enough for a toy
    // task, and a seeded run repeats itself.
    let state = seed >>> 0;
    this.rng = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 4294967296;
    };
  }

  setParameters(p) {
    for (const [k, v] of Object.entries(p)) {
      if (!(k in this.params)) throw invalid(`unknown environment parameter ${JSON.stringify(k)}; this simulator has ${Object.keys(this.params).join(', ')}`);
      this.pendingParams[k] = v;
    }
  }

  // A fresh episode for slot `slot`, reusing `id` or taking a new one.
  newEpisode(id) {
    // Parameters apply from each agent's next episode.
    Object.assign(this.params, this.pendingParams);
    const length = Math.max(3, Math.round(this.params.length));
    return {
      id: id === undefined ? this.nextId++ : id,
      length,
      maxSteps: Math.max(1, Math.round(this.params.max_steps)),
      pos: Math.floor(length / 2),
      goal: this.rng() < 0.5 ? 0 : length - 1,
      steps: 0,
      reward: 0,
      ret: 0,
    };
  }

  // Which of left, stay, right an agent may choose: with --mask, not the move onto the wrong
  // end (at least one choice of each branch must stay allowed).
  allowed(a) {
    if (!this.opts.mask) return [true, true, true];
    const wrongEnd = a.goal === 0 ? a.length - 1 : 0;
    return [a.pos - 1 !== wrongEnd, true, a.pos + 1 !== wrongEnd];
  }

  observe(a) {
    return [(2 * a.pos) / (a.length - 1) - 1, a.goal === 0 ? -1 : 1];
  }

  reset() {
    this.agents = [];
    for (let i = 0; i < this.opts.agents; i++) this.agents.push(this.newEpisode());
    this.stepCount = 0;
    return this.result([]);
  }

  // actions: one row per agent of the previous decision steps, in the same order.
  step(actionRows) {
    if (actionRows.length !== this.agents.length) {
      throw invalid(`Walker actions have ${actionRows.length} rows, expected ${this.agents.length} (one per agent that asked)`);
    }
    const terminals = [];
    this.agents = this.agents.map((a, i) => {
      const act = actionRows[i][0];
      if (!(act >= 0 && act < N_ACTIONS)) throw invalid(`Walker action ${act} is outside [0, ${N_ACTIONS})`);
      if (!this.allowed(a)[act]) throw invalid(`Walker agent ${a.id} chose ${act}, which its action mask forbids`);
      a.pos = Math.min(a.length - 1, Math.max(0, a.pos + act - 1));
      a.steps += 1;
      a.reward = -0.01;
      let done = false;
      let interrupted = false;
      if (a.pos === a.goal) { a.reward += 1; done = true; }
      else if (a.pos === 0 || a.pos === a.length - 1) { done = true; }
      else if (a.steps >= a.maxSteps) { done = true; interrupted = true; }
      a.ret += a.reward;
      if (!done) return a;
      terminals.push({ agent: a, interrupted });
      this.stats.push({ name: 'Walker/reached_goal', value: a.pos === a.goal ? 1 : 0 });
      return this.newEpisode(this.opts.ids === 'same' ? a.id : undefined);
    });
    this.stepCount += 1;
    return this.result(terminals);
  }

  result(terminals) {
    const n = this.agents.length;
    let obs = this.agents.flatMap((a) => this.observe(a));
    let obsShape = [n, 2];
    if (this.opts.badShapeAfter >= 0 && this.stepCount >= this.opts.badShapeAfter) {
      obs = obs.concat(new Array(n).fill(0)); // a simulator bug: 3 values per agent
      obsShape = [n, 3];
    }
    const decisions = {
      observations: [f32Tensor(obs, obsShape)],
      // A fresh episode's first decision has no reward yet; agents that continue get theirs.
      reward: f32Tensor(this.agents.map((a) => (a.steps > 0 ? a.reward : 0)), [n]),
      agent_id: i64Tensor(this.agents.map((a) => a.id)),
    };
    if (this.opts.mask) {
      // (n_agents, sum of the branch sizes) bool, true = allowed: one branch of 3 choices here
      decisions.action_mask = boolTensor(this.agents.flatMap((a) => this.allowed(a)), [n, N_ACTIONS]);
    }
    const behavior = { behavior: BEHAVIOR, decisions };
    if (terminals.length > 0) {
      const m = terminals.length;
      behavior.terminals = {
        observations: [f32Tensor(terminals.flatMap((t) => this.observe(t.agent)), [m, 2])],
        reward: f32Tensor(terminals.map((t) => t.agent.reward), [m]),
        agent_id: i64Tensor(terminals.map((t) => t.agent.id)),
        interrupted: boolTensor(terminals.map((t) => t.interrupted), [m]),
      };
    }
    const stats = this.stats;
    this.stats = [];
    return { behaviors: [behavior], stats };
  }
}

// ---------------------------------------------------------------- the service
function main() {
  const opts = parseArgs(process.argv);
  const def = protoLoader.loadSync(opts.proto, {
    keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
  });
  const proto = grpc.loadPackageDefinition(def).mlx.env.v1;
  const token = process.env.MLX_ENV_TOKEN || '';
  let env = new Walk1D(opts);
  let initialized = false;

  // Wraps a unary handler: checks the token, turns InvalidArgument into INVALID_ARGUMENT.
  const unary = (name, fn) => (call, callback) => {
    if (token && call.metadata.get('authorization')[0] !== `Bearer ${token}`) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong token' });
      return;
    }
    try {
      callback(null, fn(call.request));
    } catch (err) {
      const code = err instanceof InvalidArgument ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
      if (code === grpc.status.INTERNAL) console.error(err);
      callback({ code, details: `${name}: ${err.message}` });
    }
  };

  const actionsFrom = (req) => {
    const rows = [];
    for (const a of req.actions || []) {
      if (a.behavior !== BEHAVIOR) throw invalid(`unknown behavior ${JSON.stringify(a.behavior)}`);
      rows.push(...readIntRows(a.discrete, 'Walker discrete actions'));
    }
    return rows;
  };

  const handlers = {
    Initialize: unary('Initialize', (req) => {
      console.error(`[walk1d] Initialize: protocol ${req.protocol_version}, seed ${req.seed}, parameters ${JSON.stringify(req.parameters)}`);
      env = new Walk1D(opts);
      env.seed(Number(req.seed));
      env.setParameters(req.parameters || {});
      initialized = true;
      return {
        protocol_version: PROTOCOL_VERSION,
        name: 'walk1d (node)',
        behaviors: [{
          name: BEHAVIOR,
          observations: [{ name: 'position_and_goal', shape: [2] }],
          actions: { continuous_size: 0, discrete_branches: [N_ACTIONS] },
        }],
      };
    }),
    Reset: unary('Reset', () => {
      if (!initialized) throw invalid('Reset before Initialize');
      return env.reset();
    }),
    Step: unary('Step', (req) => env.step(actionsFrom(req))),
    SetParameters: unary('SetParameters', (req) => {
      console.error(`[walk1d] SetParameters ${JSON.stringify(req.parameters)}`);
      env.setParameters(req.parameters || {});
      return {};
    }),
    Close: unary('Close', () => { console.error('[walk1d] Close'); return {}; }),
    StepStream: (call) => {
      if (opts.unaryOnly || (token && call.metadata.get('authorization')[0] !== `Bearer ${token}`)) {
        call.emit('error', {
          code: opts.unaryOnly ? grpc.status.UNIMPLEMENTED : grpc.status.UNAUTHENTICATED,
          details: opts.unaryOnly ? 'StepStream is not offered; use Step' : 'missing or wrong token',
        });
        return;
      }
      call.on('data', (req) => {
        try {
          call.write(env.step(actionsFrom(req)));
        } catch (err) {
          const code = err instanceof InvalidArgument ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL;
          call.emit('error', { code, details: `StepStream: ${err.message}` });
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => {});
    },
  };

  const server = new grpc.Server();
  server.addService(proto.Environment.service, handlers);
  server.bindAsync(`${opts.host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) { console.error(`[walk1d] cannot listen on ${opts.host}:${opts.port}: ${err.message}`); process.exit(1); }
    console.error(`[walk1d] serving on ${opts.host}:${port} (agents=${opts.agents}, ids=${opts.ids}, mask=${opts.mask}, stream=${!opts.unaryOnly})`);
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main();
