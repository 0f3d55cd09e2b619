from signalling.cli import main

main(prog_name="telehealth")
