"""The plant: equipment model, OPC UA and Modbus drivers, runtime, interlocks, simulator."""
