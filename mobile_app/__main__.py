from mobile_app.main import main

main()
