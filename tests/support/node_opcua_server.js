// A small dosing plant on another vendor's OPC UA stack (node-opcua), with that vendor's conventions:
// string node ids in its own namespace (ns=1), level in % of 2000 L, flow in L/s, a 50 ms minimum
// publishing interval, a valve whose "open" feedback follows 200 ms after the command, and a
// totalizer that starts again at 0 whenever the server (the "PLC") restarts.
//
// Usage: node node_opcua_server.js PORT [CONTROL_PORT] [LEVEL_L] [SOURCE_L]
//   → prints "ready <endpoint url>" when listening.
// Control (HTTP, localhost): GET /state; POST /set {"level_l": 1500, "valve_stuck": true, "nominal_lps": 4};
// GET /writes (client writes with arrival times); POST /writes (returns them and clears the list)
//
// Nodes: Reactor.Level (L, for the driver test), Reactor.LevelPct (%), Reactor.InletValve (command),
// Reactor.InletValveOpen (feedback), Transfer.Pump (command), Transfer.PumpRunning, Transfer.Command
// (one bit that opens the valve AND runs the pump, as some plants wire it), Transfer.Flow (L/s),
// Transfer.Totalizer (L), Source.Level (L).
const http = require("http");
const { OPCUAServer, Variant, DataType, StatusCodes } = require("node-opcua");

const CAPACITY_L = 2000.0;
const TRAVEL_S = 0.2;
const STEP_MS = 20;

(async () => {
  const port = parseInt(process.argv[2], 10);
  const controlPort = process.argv[3] ? parseInt(process.argv[3], 10) : 0;
  const plant = {
    level_l: process.argv[4] ? parseFloat(process.argv[4]) : 100.0,
    source_l: process.argv[5] ? parseFloat(process.argv[5]) : 3000.0,
    position: 0.0, pump_running: false, flow_lps: 0.0, total_l: 0.0,
    nominal_lps: 4.0, valve_stuck: false,
  };
  const server = new OPCUAServer({ port, resourcePath: "/vendor", buildInfo: { productName: "vendor-plc" } });
  await server.initialize();
  const space = server.engine.addressSpace;
  const ns = space.getOwnNamespace();
  const reactor = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: "Reactor" });
  const transfer = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: "Transfer" });
  const source = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: "Source" });
  const vars = {};
  const add = (parent, id, type, initial, writable) => {
    const options = {
      componentOf: parent, nodeId: "s=" + id, browseName: id.split(".")[1], dataType: type,
      minimumSamplingInterval: 0,
    };
    if (writable) {
      options.accessLevel = "CurrentRead | CurrentWrite";
      options.userAccessLevel = "CurrentRead | CurrentWrite";
    }
    const v = ns.addVariable(options);
    v.setValueFromSource(new Variant({ dataType: DataType[type], value: initial }), StatusCodes.Good, new Date());
    vars[id] = { node: v, type, last: initial };
    if (writable) {
      // Client writes with their arrival time (seconds since the epoch), for the interlock benchmark.
      v.on("value_changed", (dataValue) => { writes.push({ tag: id, value: dataValue.value.value, at: Date.now() / 1000 }); });
    }
  };
  const writes = [];
  add(reactor, "Reactor.Level", "Double", plant.level_l, false);
  add(reactor, "Reactor.LevelPct", "Double", 100 * plant.level_l / CAPACITY_L, false);
  add(reactor, "Reactor.InletValve", "Boolean", false, true);
  add(reactor, "Reactor.InletValveOpen", "Boolean", false, false);
  add(transfer, "Transfer.Pump", "Boolean", false, true);
  add(transfer, "Transfer.PumpRunning", "Boolean", false, false);
  add(transfer, "Transfer.Command", "Boolean", false, true);
  add(transfer, "Transfer.Flow", "Double", 0.0, false);
  add(transfer, "Transfer.Totalizer", "Double", 0.0, false);
  add(source, "Source.Level", "Double", plant.source_l, false);

  const command = (id) => Boolean(vars[id].node.readValue().value.value);
  const publish = (id, value) => {
    if (vars[id].last === value) return;
    vars[id].last = value;
    vars[id].node.setValueFromSource(new Variant({ dataType: DataType[vars[id].type], value }), StatusCodes.Good, new Date());
  };
  const round = (x, n) => Math.round(x * 10 ** n) / 10 ** n;
  // The valve and the pump follow their command after TRAVEL_S (feedback 200 ms after the command):
  // product keeps flowing at full rate for that long after a close, as on the plant in issue 15.
  let valveSince = 0.0, pumpSince = 0.0, lastValveCmd = false, lastPumpCmd = false;
  let valveOpen = false;
  setInterval(() => {
    const dt = STEP_MS / 1000;
    const shared = command("Transfer.Command");
    const valveCmd = command("Reactor.InletValve") || shared;
    const pumpCmd = command("Transfer.Pump") || shared;
    if (valveCmd !== lastValveCmd) { lastValveCmd = valveCmd; valveSince = 0.0; } else { valveSince += dt; }
    if (pumpCmd !== lastPumpCmd) { lastPumpCmd = pumpCmd; pumpSince = 0.0; } else { pumpSince += dt; }
    if (!plant.valve_stuck && valveSince >= TRAVEL_S - 1e-9) { valveOpen = valveCmd; }
    if (pumpSince >= TRAVEL_S - 1e-9) { plant.pump_running = pumpCmd; }
    plant.position = valveOpen ? 1.0 : 0.0;
    plant.flow_lps = plant.pump_running && plant.source_l > 0 ? plant.nominal_lps * plant.position : 0.0;
    const litres = Math.min(plant.flow_lps * dt, plant.source_l);
    plant.source_l -= litres;
    plant.level_l += litres;
    plant.total_l += litres;
    publish("Reactor.Level", round(plant.level_l, 4));
    publish("Reactor.LevelPct", round(100 * plant.level_l / CAPACITY_L, 5));
    publish("Reactor.InletValveOpen", valveOpen);
    publish("Transfer.PumpRunning", plant.pump_running);
    publish("Transfer.Flow", round(plant.flow_lps, 4));
    publish("Transfer.Totalizer", round(plant.total_l, 4));
    publish("Source.Level", round(plant.source_l, 4));
  }, STEP_MS);

  if (controlPort) {
    http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => { body += chunk; });
      req.on("end", () => {
        if (req.url === "/writes") {
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(JSON.stringify({ writes }));
          if (req.method === "POST") { writes.length = 0; }
          return;
        }
        if (req.method === "POST" && req.url === "/set") {
          const changes = body ? JSON.parse(body) : {};
          for (const key of Object.keys(changes)) {
            if (!(key in plant)) { res.writeHead(400); res.end(JSON.stringify({ error: "unknown " + key })); return; }
            plant[key] = changes[key];
          }
        }
        const state = Object.assign({}, plant, {
          valve_command: command("Reactor.InletValve"), pump_command: command("Transfer.Pump"),
          shared_command: command("Transfer.Command"),
        });
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify(state));
      });
    }).listen(controlPort, "127.0.0.1");
  }

  await server.start();
  console.log("ready " + server.getEndpointUrl());
  process.on("SIGTERM", async () => { await server.shutdown(0); process.exit(0); });
})();
