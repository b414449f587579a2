from equipment.simulator.process import main

main()
