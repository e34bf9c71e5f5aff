/* placeholder: being written */
typedef int zu_placeholder_main;
int main(void){return 0;}
