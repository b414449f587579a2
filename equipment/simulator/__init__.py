"""The plant simulator behind ``ebr simulate``: OPC UA plant, Modbus scale, control endpoint."""
