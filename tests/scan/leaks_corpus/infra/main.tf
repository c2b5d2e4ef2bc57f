resource "aws_db_instance" "orders" {
  identifier = "orders"
  username   = "orders"
  password   = "Vm8qT3xK7nW2rL5z"
}

resource "aws_db_instance" "reports" {
  identifier = "reports"
  password   = var.reports_db_password
}

variable "reports_db_password" {
  type      = string
  sensitive = true
}
