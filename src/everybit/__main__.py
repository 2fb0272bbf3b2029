from everybit.cli import main

main()
