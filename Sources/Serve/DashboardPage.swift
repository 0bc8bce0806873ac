enum DashboardPage {
    static let html = "<!doctype html><title>Wakala</title>"
}
