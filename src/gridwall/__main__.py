from gridwall.app.cli import main

main()
