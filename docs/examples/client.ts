// A typed Codette WebSocket client for browsers and Node (TypeScript 5, no dependencies).
//
// In a browser or a DAW frontend: import { CodetteClient } from "./client";
// From a terminal:  npm install && npx tsc && node --experimental-websocket dist/client.js
// (Node 22+ has WebSocket built in and needs no flag.)

export const DEFAULT_URL = "ws://127.0.0.1:8000/ws";

export interface Track {
  id?: string | number;
  name?: string;
  type?: string; // "vocal", "drums", "bass", "bus", "master", ...
  volume?: number; // dB
  pan?: number;
  muted?: boolean;
  soloed?: boolean;
  peak_level?: number; // dBFS
  rms_level?: number; // dBFS
  plugins?: string[];
}

export interface DawContext {
  tracks?: Track[];
  selected_track?: Track;
  bpm?: number;
  genre?: string;
  project_name?: string;
}

export interface ServerMessage {
  type: string;
  timestamp: string;
  id?: string | number;
  [field: string]: unknown;
}

export interface Welcome extends ServerMessage {
  type: "connection";
  client_id: string;
  server_version: string;
  protocol_version: string;
  capabilities: string[];
}

export interface ChatResponse extends ServerMessage {
  type: "chat_response";
  response: string;
  perspective: string;
  confidence: number;
  session_id: string;
  sources?: unknown[];
  suggestions?: string[];
}

export interface StatusResponse extends ServerMessage {
  type: "status_response";
  status: "ok";
  active_connections: number;
  uptime_s: number;
  version: string;
}

export interface AnalysisResponse extends ServerMessage {
  type: "analysis_response";
  status: "success" | "error";
  trackId?: string | number;
  analysis?: {
    analysis_type: string;
    codette_insights: string;
    mixing_suggestions: string[];
    quality_score: number;
    measurements: Record<string, unknown>;
  };
  code?: string;
  message?: string;
}

/** An `error` reply; `code` is one of the protocol's error codes. */
export class CodetteError extends Error {
  constructor(public readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

interface Pending {
  resolve: (message: ServerMessage) => void;
  reject: (error: Error) => void;
  onChunk?: (delta: string) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class CodetteClient {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private keepalive: ReturnType<typeof setInterval> | undefined;
  /** Messages nobody waits for: server_status, connection_event, audio_levels, ... */
  onPush: (message: ServerMessage) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};

  constructor(private readonly url: string = DEFAULT_URL, private readonly timeoutMs = 30000) {}

  /** Open the socket and resolve with the server's welcome message. */
  connect(): Promise<Welcome> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let welcomed = false;
      ws.onmessage = (event: MessageEvent) => {
        const message = JSON.parse(String(event.data)) as ServerMessage;
        if (message.type === "connection") {
          welcomed = true;
          // Keep idle connections alive through proxies and notice a dead server.
          this.keepalive = setInterval(() => this.request("ping").catch(() => {}), 30000);
          resolve(message as Welcome);
        } else {
          this.dispatch(message);
        }
      };
      ws.onclose = (event: CloseEvent) => {
        clearInterval(this.keepalive);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`connection closed (${event.code})`));
        }
        this.pending.clear();
        // 1006 before the welcome: server not running, or Origin/Host/token refused (403).
        if (!welcomed) reject(new Error(`cannot connect to ${this.url} (close ${event.code})`));
        this.onClose(event.code, event.reason);
      };
      // Browsers follow an error with onclose; Node 20's WebSocket may not, so fail here.
      ws.onerror = () => {
        if (!welcomed) reject(new Error(`cannot connect to ${this.url}`));
      };
    });
  }

  private dispatch(message: ServerMessage): void {
    const pending = message.id === undefined ? undefined : this.pending.get(String(message.id));
    if (!pending) {
      this.onPush(message);
      return;
    }
    if (message.type === "chat_chunk") {
      pending.onChunk?.(String(message.delta));
      return;
    }
    clearTimeout(pending.timer);
    this.pending.delete(String(message.id));
    if (message.type === "error") {
      pending.reject(new CodetteError(String(message.code), String(message.message)));
    } else {
      pending.resolve(message);
    }
  }

  /** Send one request; resolve with the reply that carries the same id. */
  request<T extends ServerMessage = ServerMessage>(
    type: string,
    fields: Record<string, unknown> = {},
    onChunk?: (delta: string) => void,
  ): Promise<T> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("not connected"));
    }
    const id = `ts-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${type} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: (m) => resolve(m as T), reject, onChunk, timer });
      ws.send(JSON.stringify({ type, id, ...fields }));
    });
  }

  chat(
    message: string,
    options: { perspective?: string; daw_context?: DawContext; stream?: boolean } = {},
    onChunk?: (delta: string) => void,
  ): Promise<ChatResponse> {
    return this.request<ChatResponse>("chat", { message, ...options }, onChunk);
  }

  close(): void {
    clearInterval(this.keepalive);
    this.ws?.close(1000, "bye");
  }
}

/** The tour used by `node dist/client.js [url]`. */
export async function demo(url: string): Promise<void> {
  const client = new CodetteClient(url);
  const welcome = await client.connect();
  console.log(`connected as ${welcome.client_id} to server ${welcome.server_version}`);

  const started = performance.now();
  await client.request("ping");
  console.log(`pong after ${(performance.now() - started).toFixed(1)} ms`);

  const status = await client.request<StatusResponse>("status");
  console.log(`status: ${status.status}, ${status.active_connections} connection(s)`);

  const answer = await client.chat(
    "How do I EQ vocals?",
    {
      perspective: "mix_engineering",
      stream: true,
      daw_context: {
        tracks: [{ id: "t1", name: "Lead Vox", type: "vocal", peak_level: -3, rms_level: -18 }],
        selected_track: { id: "t1", name: "Lead Vox", type: "vocal" },
        bpm: 120,
      },
    },
    (delta) => console.log(`chunk: ${JSON.stringify(delta)}`),
  );
  console.log(`chat_response: confidence ${answer.confidence.toFixed(2)}`);
  console.log(answer.response);

  const report = await client.request<AnalysisResponse>("analyze", {
    track_data: { track_id: "t1", track_name: "Lead Vox", track_type: "vocal" },
    audio_data: { peak_level: -0.5, rms_level: -9, duration: 180, sample_rate: 48000 },
    analysis_type: "full",
  });
  console.log(`analysis: ${report.status}, quality ${report.analysis?.quality_score}`);

  try {
    await client.request("no_such_type");
  } catch (error) {
    if (error instanceof CodetteError) console.log(`unknown types are refused: ${error.code}`);
    else throw error;
  }
  client.close();
}

// Run the demo when executed directly with Node (not when imported by a bundler).
const nodeProcess = (globalThis as { process?: { argv: string[]; exitCode?: number } }).process;
if (nodeProcess?.argv[1]?.endsWith("client.js")) {
  demo(nodeProcess.argv[2] ?? DEFAULT_URL).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    nodeProcess.exitCode = 1;
  });
}
