// A small OPC UA server from another vendor's stack (node-opcua), for driver tests.
// Usage: node node_opcua_server.js PORT   → prints "ready <endpoint url>" when listening.
const { OPCUAServer, Variant, DataType, StatusCodes } = require("node-opcua");

(async () => {
  const port = parseInt(process.argv[2], 10);
  const server = new OPCUAServer({ port, resourcePath: "/vendor", buildInfo: { productName: "vendor-plc" } });
  await server.initialize();
  const space = server.engine.addressSpace;
  const ns = space.getOwnNamespace();
  const reactor = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: "Reactor" });
  let level = 100.0;
  let valve = false;
  ns.addVariable({
    componentOf: reactor, nodeId: "s=Reactor.Level", browseName: "Level", dataType: "Double", minimumSamplingInterval: 100,
    value: { get: () => new Variant({ dataType: DataType.Double, value: level }) },
  });
  ns.addVariable({
    componentOf: reactor, nodeId: "s=Reactor.InletValve", browseName: "InletValve", dataType: "Boolean", minimumSamplingInterval: 100,
    accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
    value: {
      get: () => new Variant({ dataType: DataType.Boolean, value: valve }),
      set: (variant) => { valve = variant.value; return StatusCodes.Good; },
    },
  });
  setInterval(() => { if (valve) { level += 1.0; } }, 100);
  await server.start();
  console.log("ready " + server.getEndpointUrl());
  process.on("SIGTERM", async () => { await server.shutdown(0); process.exit(0); });
})();
