import sys

from relay.agent.main import main

sys.exit(main())
